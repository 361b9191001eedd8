// The instruction-set paths (core/isa.h, core/kernels/): LOCKSTEP_ISA's
// names and refusals, and every kernel on every path this machine runs
// against the baseline path on the same inputs: the same bits, except the
// activations that go through Eigen's polynomials (tanh, sigmoid, elu
// forward), which use FMA instructions on the avx2 and avx512 paths and so
// may differ in the last bits (a few float ulps).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/isa.h"
#include "core/kernels/kernels.h"
#include "core/random.h"

namespace lockstep {
namespace {

using kernels::Table;

std::vector<Isa> all_paths() { return {Isa::kBaseline, Isa::kAvx2, Isa::kAvx512, Isa::kNative}; }

TEST(Isa, ResolvesNamesAndRefusesWhatItCannotRun) {
  const Isa best = resolve_isa(nullptr);
  EXPECT_TRUE(isa_supported(best));
  EXPECT_EQ(resolve_isa(""), best);
  for (Isa isa : all_paths()) {
    if (isa_supported(isa)) {
      EXPECT_EQ(resolve_isa(isa_name(isa)), isa);
      EXPECT_NE(kernels::table_for(isa), nullptr);
      continue;
    }
    EXPECT_EQ(kernels::table_for(isa), nullptr);
    try {
      resolve_isa(isa_name(isa));
      ADD_FAILURE() << isa_name(isa) << " accepted though unsupported";
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), kExitInput);
      EXPECT_EQ(e.where(), std::string("LOCKSTEP_ISA=") + isa_name(isa));
      EXPECT_NE(e.message().find(std::string("cannot use the ") + isa_name(isa) + " path"), std::string::npos)
          << e.message();
    }
  }
  try {
    resolve_isa("sse9");
    ADD_FAILURE() << "an unknown name was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitInput);
    EXPECT_NE(std::string(e.what()).find("LOCKSTEP_ISA=sse9: unknown path (known: baseline, avx2, avx512, native"),
              std::string::npos)
        << e.what();
  }
}

TEST(Isa, PortableX86BuildsHaveEveryPathThisCpuRuns) {
#if (defined(__x86_64__) || defined(__i386__)) && !defined(__AVX__)
  // A portable x86-64 build (this test file gets the program's flags:
  // x86-64-v2 has no AVX): baseline always, the others as the CPU allows.
  __builtin_cpu_init();
  EXPECT_TRUE(isa_supported(Isa::kBaseline));
  EXPECT_FALSE(isa_supported(Isa::kNative));
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx2")) {
    EXPECT_TRUE(isa_supported(Isa::kAvx512));
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    EXPECT_TRUE(isa_supported(Isa::kAvx2));
  }
  EXPECT_NE(isa_description().find(isa_name(active_isa())), std::string::npos);
#else
  GTEST_SKIP() << "not a portable x86-64 build";
#endif
}

// Inputs in [-2, 2) (and some exact zeros, so relu masks see ties).
std::vector<float> random_floats(size_t n, uint64_t key) {
  CounterRng rng(key);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng.next_double() * 4.0 - 2.0);
  for (size_t i = 0; i < n; i += 17) v[i] = 0.0f;
  return v;
}

// The path the others are compared with: baseline, or native in a
// -DLOCKSTEP_NATIVE=ON build (its only path).
const Table* base_table() {
  const Table* base = kernels::table_for(Isa::kBaseline);
  return base != nullptr ? base : kernels::table_for(Isa::kNative);
}

// Runs `fill` (which writes its outputs into the vector it is given) with
// each path's table and compares the outputs with the baseline path's:
// bit for bit when max_ulps is 0.
void expect_paths_agree(const std::string& what, const std::function<std::vector<float>(const Table&)>& run,
                        int max_ulps = 0) {
  const Table* base = base_table();
  ASSERT_NE(base, nullptr);
  const std::vector<float> want = run(*base);
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    const Table* t = kernels::table_for(isa);
    if (t == nullptr) continue;
    const std::vector<float> got = run(*t);
    ASSERT_EQ(got.size(), want.size());
    int64_t worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      int32_t a, b;
      std::memcpy(&a, &want[i], 4);
      std::memcpy(&b, &got[i], 4);
      const int64_t ulps = std::llabs(static_cast<int64_t>(a) - static_cast<int64_t>(b));
      if (ulps > worst) worst = ulps, at = i;
    }
    EXPECT_LE(worst, max_ulps) << what << " on the " << isa_name(isa) << " path: " << worst << " ulps at " << at
                               << " (" << want[at] << " vs " << got[at] << ")";
  }
}

// Doubles as the bit patterns of two floats each, so equality is exact.
std::vector<float> bits_of(const std::vector<double>& v) {
  std::vector<float> out(2 * v.size());
  std::memcpy(out.data(), v.data(), v.size() * sizeof(double));
  return out;
}

constexpr int64_t kRows = 37, kCols = 61;  // tails on every vector width

TEST(IsaKernels, ActivationsAgreeAcrossPaths) {
  const std::vector<float> z = random_floats(kRows * kCols, 1), dy = random_floats(kRows * kCols, 2);
  for (ActivationKind kind : {ActivationKind::kLinear, ActivationKind::kRelu, ActivationKind::kTanh,
                              ActivationKind::kSigmoid, ActivationKind::kSoftmax, ActivationKind::kElu,
                              ActivationKind::kLeakyRelu, ActivationKind::kGelu}) {
    ActivationFn f;
    f.kind = kind;
    f.alpha = 0.3f;
    // Eigen's polynomials (FMA on avx2/avx512): a few ulps; the rest exact.
    const bool eigen =
        kind == ActivationKind::kTanh || kind == ActivationKind::kSigmoid || kind == ActivationKind::kElu;
    const std::string name = "activation " + std::to_string(static_cast<int>(kind));
    expect_paths_agree(name + " forward", [&](const Table& t) {
      std::vector<float> y(z.size());
      t.activation_forward(f, z.data(), y.data(), kRows, kCols);
      return y;
    }, eigen ? 4 : 0);
    // Backward from the baseline's forward output, so only backward differs.
    std::vector<float> y(z.size());
    base_table()->activation_forward(f, z.data(), y.data(), kRows, kCols);
    expect_paths_agree(name + " backward", [&](const Table& t) {
      std::vector<float> dz(z.size());
      t.activation_backward(f, z.data(), y.data(), dy.data(), dz.data(), kRows, kCols);
      return dz;
    });
  }
}

TEST(IsaKernels, BatchNormAgreesAcrossPaths) {
  const int64_t C = 13, rows = 301;
  const std::vector<float> x = random_floats(rows * C, 3), dy = random_floats(rows * C, 4);
  const std::vector<float> inv_std = random_floats(C, 5), scale = random_floats(C, 6), shift = random_floats(C, 7);
  const std::vector<float> y = random_floats(rows * C, 8);
  std::vector<double> mean(C), mean_dy(C), mean_dy_xhat(C);
  for (int64_t c = 0; c < C; ++c) mean[c] = 0.1 * c - 0.5, mean_dy[c] = 0.01 * c, mean_dy_xhat[c] = -0.02 * c;
  // large: the backward loops' 256-bit copies on the avx512 path.
  for (const auto& [relu, large] : {std::pair{false, false}, {true, false}, {false, true}, {true, true}}) {
    const kernels::BatchNormRows bn{C, mean.data(), inv_std.data(), scale.data(), shift.data(),
                                    mean_dy.data(), mean_dy_xhat.data(), relu, large};
    expect_paths_agree("bn_moments", [&](const Table& t) {
      std::vector<double> s(C), d(C);
      t.bn_moments(x.data(), rows, C, s.data(), d.data());
      s.insert(s.end(), d.begin(), d.end());
      return bits_of(s);
    });
    expect_paths_agree("bn_normalize", [&](const Table& t) {
      std::vector<float> out(x.size());
      t.bn_normalize(bn, x.data(), out.data(), 3, rows);
      return out;
    });
    expect_paths_agree("bn_normalize_inference", [&](const Table& t) {
      std::vector<float> out(x.size());
      t.bn_normalize_inference(bn, shift.data(), x.data(), out.data(), 0, rows);
      return out;
    });
    expect_paths_agree("bn_gradient_sums", [&](const Table& t) {
      std::vector<double> s(C, 0.0), d(C, 0.0);
      t.bn_gradient_sums(bn, x.data(), y.data(), dy.data(), 0, rows, s.data(), d.data());
      s.insert(s.end(), d.begin(), d.end());
      return bits_of(s);
    });
    expect_paths_agree("bn_input_gradient", [&](const Table& t) {
      std::vector<float> out(x.size());
      t.bn_input_gradient(bn, x.data(), y.data(), dy.data(), out.data(), 0, rows);
      return out;
    });
  }
}

TEST(IsaKernels, Im2colAndPoolingAgreeAcrossPaths) {
  const int64_t N = 3, H = 9, W = 11, C = 5;
  const std::vector<float> x = random_floats(N * H * W * C, 9);
  struct Case { int64_t k, stride, dilation; bool same; };
  for (const Case& c : {Case{3, 1, 1, true}, Case{3, 2, 1, true}, Case{2, 1, 2, false}, Case{5, 2, 1, false},
                        Case{2, 2, 1, false}, Case{3, 3, 1, true}}) {
    kernels::ConvGeometry g;
    g.height = window_axis("height", H, c.k, c.stride, c.dilation, c.same);
    g.width = window_axis("width", W, c.k, c.stride, c.dilation, c.same);
    g.in_channels = C, g.kernel_h = c.k, g.kernel_w = c.k;
    const int64_t positions = g.height.output * g.width.output;
    const std::vector<float> dpatches = random_floats(N * positions * g.patch_width(), 10);
    expect_paths_agree("conv_gather", [&](const Table& t) {
      std::vector<float> patches(N * positions * g.patch_width());
      t.conv_gather(g, x.data(), 0, patches.data(), 0, N * g.height.output);
      return patches;
    });
    expect_paths_agree("conv_scatter", [&](const Table& t) {
      std::vector<float> dx(x.size());
      t.conv_scatter(g, dpatches.data(), 0, dx.data(), 0, N);
      return dx;
    });
    if (c.dilation != 1) continue;
    const kernels::PoolGeometry p{g.height, g.width, C};
    const std::vector<float> dy = random_floats(N * positions * C, 11);
    expect_paths_agree("pooling", [&](const Table& t) {
      std::vector<float> y(N * positions * C), avg(y.size()), dx(x.size()), adx(x.size());
      std::vector<int32_t> argmax(y.size());
      t.max_pool_forward(p, x.data(), y.data(), argmax.data(), 0, N * g.height.output);
      if (c.stride == c.k) t.max_pool_backward_tiled(p, argmax.data(), dy.data(), dx.data());
      t.average_pool_forward(p, x.data(), avg.data(), 0, N * g.height.output);
      t.average_pool_backward(p, dy.data(), adx.data(), 0, N);
      std::vector<float> out = y;
      for (auto* v : {&avg, &dx, &adx}) out.insert(out.end(), v->begin(), v->end());
      out.insert(out.end(), argmax.begin(), argmax.end());
      return out;
    });
  }
}

TEST(IsaKernels, DropoutOptimizersAndSumsAgreeAcrossPaths) {
  const size_t n = 4099;
  const std::vector<float> x = random_floats(n, 12), g = random_floats(n, 13), s0 = random_floats(n, 14);
  expect_paths_agree("dropout", [&](const Table& t) {
    std::vector<float> y(n), mult(n), dx(n);
    t.dropout_forward(0x1234, 77, 8388608, 2.0f, x.data(), y.data(), mult.data(), 1, static_cast<int64_t>(n));
    t.multiply(g.data(), mult.data(), dx.data(), n);
    y.insert(y.end(), dx.begin(), dx.end());
    return y;
  });
  // Several steps, so differences would compound; v starts >= 0.
  auto steps = [&](const std::function<void(const Table&, std::vector<float>*)>& step) {
    return [&, step](const Table& t) {
      std::vector<float> state[4] = {x, s0, s0, s0};
      for (float& v : state[2]) v = v * v;
      for (int i = 0; i < 5; ++i) step(t, state);
      std::vector<float> out;
      for (auto& s : state) out.insert(out.end(), s.begin(), s.end());
      return out;
    };
  };
  for (bool decay : {false, true})
    expect_paths_agree("adam", steps([&](const Table& t, std::vector<float>* s) {
      t.adam(s[0].data(), g.data(), s[1].data(), s[2].data(), n, {0.01f, 0.1f, 0.001f, 1e-7f, 0.004f}, decay);
    }));
  expect_paths_agree("sgd", steps([&](const Table& t, std::vector<float>* s) {
    t.sgd(s[0].data(), g.data(), n, 0.1f);
  }));
  for (bool nesterov : {false, true})
    expect_paths_agree("sgd_momentum", steps([&](const Table& t, std::vector<float>* s) {
      t.sgd_momentum(s[0].data(), g.data(), s[1].data(), n, 0.1f, 0.9f, nesterov);
    }));
  for (int variant = 0; variant < 4; ++variant)
    expect_paths_agree("rmsprop", steps([&](const Table& t, std::vector<float>* s) {
      t.rmsprop(s[0].data(), g.data(), s[2].data(), variant & 1 ? s[1].data() : nullptr,
                variant & 2 ? s[3].data() : nullptr, n, {0.001f, 0.9f, 0.1f, 0.5f, 1e-7f});
    }));
  expect_paths_agree("sums", [&](const Table& t) {
    std::vector<float> a(n), b(n), c(n), rows(kCols, 0.0f);
    t.add(x.data(), g.data(), a.data(), n);
    t.add_into(a.data(), s0.data(), n);
    t.add_twice(x.data(), s0.data(), b.data(), c.data(), n);
    t.add_rows_into(rows.data(), x.data(), static_cast<int64_t>(n) / kCols, kCols);
    for (auto* v : {&b, &c, &rows}) a.insert(a.end(), v->begin(), v->end());
    return a;
  });
}

}  // namespace
}  // namespace lockstep
