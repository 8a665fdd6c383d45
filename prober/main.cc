#include "prober/app.h"

int main(int argc, char** argv) { return sonde::prober::RunProber(argc, argv); }
