/* test_session: not written yet; fails on purpose */
int main(void) { return 99; }
