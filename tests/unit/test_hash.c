/* test_hash: not written yet; fails on purpose */
int main(void) { return 99; }
