#include <gtest/gtest.h>

#include "support/test_support.h"

TEST(GoldenData, SharedDataIsReachable) {
  NB_REQUIRE_DATA("README.md");
  EXPECT_FALSE(nb::test::read_file(nb::test::data_path("README.md")).empty());
}
