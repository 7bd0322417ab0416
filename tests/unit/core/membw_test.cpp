#include <gtest/gtest.h>

#include <cmath>

#include "core/membw.h"
#include "core/thread_pool.h"

namespace nb {

TEST(MemBandwidth, SmallBufferGivesPositiveFiniteRate) {
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    double bw = measure_read_bandwidth(pool, size_t(32) << 20, 1);
    EXPECT_TRUE(std::isfinite(bw)) << threads;
    EXPECT_GT(bw, 0.0) << threads;
  }
}

TEST(MemBandwidth, TinyAndOddSizesDoNotCrash) {
  ThreadPool pool(3);
  EXPECT_GT(measure_read_bandwidth(pool, 1, 1), 0.0);
  EXPECT_GT(measure_read_bandwidth(pool, 1000003, 2), 0.0);
}

TEST(CpuInfo, FeaturesAreConsistent) {
  CpuFeatures f = cpu_features();
  if (f.avx512bw || f.avx512vl || f.avx512vnni || f.avx512bf16) {
    EXPECT_TRUE(f.avx512f);
  }
  if (f.avx512f) {
    EXPECT_TRUE(f.avx2);
  }
  EXPECT_EQ(cpu_features().avx2, f.avx2);  // stable across calls
  EXPECT_FALSE(cpu_model_name().empty());
}

}  // namespace nb
