/* test_compress: not written yet; fails on purpose */
int main(void) { return 99; }
