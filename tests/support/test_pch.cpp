// Compiles the test binaries' shared precompiled header (tests/CMakeLists.txt: mcpd_test_main);
// catch_main.cpp cannot, as it must define CATCH_CONFIG_MAIN before Catch2 is included.
