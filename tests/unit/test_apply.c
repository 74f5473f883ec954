/* test_apply: not written yet; fails on purpose */
int main(void) { return 99; }
