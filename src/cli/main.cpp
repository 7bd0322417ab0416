#include <cstdio>
int main() { std::puts("nibble"); return 0; }
