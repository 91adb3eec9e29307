// oneDNN's 2-D convolutions as one XLA FFI target, for jaxgan.onednn (which compiles and loads this file).
//
// One target, three products of a convolution y = conv(x, K) with strides and explicit pads:
//   kind 0, forward:          (x [N, H, W, I], K [kh, kw, I, O])   -> y  [N, P, Q, O]
//   kind 1, backward data:    (g [N, P, Q, O], K [kh, kw, I, O])   -> dx [N, H, W, I]
//   kind 2, backward weights: (x [N, H, W, I], g [N, P, Q, O])     -> dK [kh, kw, I, O]
// Arrays are in JAX's NHWC / HWIO layouts, float32 or bfloat16 (all three the same). Each primitive is
// created once per shape and kept, with buffers and reorders to and from the layouts oneDNN picks for
// it ("any"), which on AVX-512 / AMX CPUs are blocked ones. Calls are serialized: oneDNN runs each
// on all cores itself (OpenMP), and two at once would only contend for them. (Single-threaded calls on
// pieces of the batch, run side by side by XLA's own thread pool, were measured too: 5-9% faster steps
// at batch 64, 5-10% slower at 128 and 256, on 2 Xeon cores; BENCHMARKS.md.)

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using tag = dnnl::memory::format_tag;

namespace {

struct Conv {
  memory::dims src, wei, dst, strides, pad_lo, pad_hi;  // oneDNN's logical orders: NCHW, OIHW
  memory::data_type dt;
};

using Key = std::tuple<int64_t, int, std::vector<int64_t>>;

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// One operand or the result in the primitive's layout. Where that differs from the user's (JAX's), a
// buffer in the primitive's layout and the reorder between the two, made once with the primitive:
// allocating megabytes and creating a reorder on every call cost more than some of the convolutions.
struct Operand {
  memory::desc user;
  std::unique_ptr<memory> buffer;          // in the primitive's layout; null when that is the user's
  std::unique_ptr<dnnl::reorder> reorder;  // user -> buffer for operands, buffer -> user for the result

  Operand(const memory::desc& user_desc, const memory::desc& own, bool is_result) : user(user_desc) {
    if (own == user) return;
    buffer = std::make_unique<memory>(own, Engine());
    memory placeholder(user, Engine(), DNNL_MEMORY_NONE);
    reorder = is_result ? std::make_unique<dnnl::reorder>(*buffer, placeholder)
                        : std::make_unique<dnnl::reorder>(placeholder, *buffer);
  }

  // The memory the primitive reads: ``data`` itself, or its reordered copy.
  memory In(void* data, dnnl::stream& s) const {
    memory m(user, Engine(), data);
    if (!buffer) return m;
    reorder->execute(s, m, *buffer);
    return *buffer;
  }
};

struct Prepared {
  dnnl::primitive prim;
  Operand a, b, out;
};

Prepared Prepare(int64_t kind, const Conv& c) {
  auto any = [&](const memory::dims& d) { return memory::desc(d, c.dt, tag::any); };
  auto& eng = Engine();
  auto dilates = memory::dims{0, 0};
  // JAX's layouts of x, y and K, and of this kind's two operands and result.
  memory::desc x(c.src, c.dt, tag::nhwc), y(c.dst, c.dt, tag::nhwc), k(c.wei, c.dt, tag::hwio);
  const memory::desc& a = kind == 1 ? y : x;
  const memory::desc& b = kind == 2 ? y : k;
  const memory::desc& out = kind == 0 ? y : (kind == 1 ? x : k);
  auto prepared = [&](dnnl::primitive prim, const memory::desc& a_own, const memory::desc& b_own,
                      const memory::desc& out_own) {
    return Prepared{prim, Operand(a, a_own, false), Operand(b, b_own, false), Operand(out, out_own, true)};
  };
  dnnl::convolution_forward::primitive_desc fwd(
      eng, dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, any(c.src), any(c.wei),
      any(c.dst), c.strides, dilates, c.pad_lo, c.pad_hi);
  if (kind == 0) return prepared(dnnl::convolution_forward(fwd), fwd.src_desc(), fwd.weights_desc(), fwd.dst_desc());
  if (kind == 1) {
    dnnl::convolution_backward_data::primitive_desc pd(eng, dnnl::algorithm::convolution_direct, any(c.src),
                                                       any(c.wei), any(c.dst), c.strides, dilates, c.pad_lo,
                                                       c.pad_hi, fwd);
    return prepared(dnnl::convolution_backward_data(pd), pd.diff_dst_desc(), pd.weights_desc(), pd.diff_src_desc());
  }
  dnnl::convolution_backward_weights::primitive_desc pd(eng, dnnl::algorithm::convolution_direct, any(c.src),
                                                        any(c.wei), any(c.dst), c.strides, dilates, c.pad_lo,
                                                        c.pad_hi, fwd);
  return prepared(dnnl::convolution_backward_weights(pd), pd.src_desc(), pd.diff_dst_desc(),
                  pd.diff_weights_desc());
}

ffi::Error Run(ffi::AnyBuffer a, ffi::AnyBuffer b, ffi::Result<ffi::AnyBuffer> out, int64_t kind,
               ffi::Span<const int64_t> strides, ffi::Span<const int64_t> pad_lo, ffi::Span<const int64_t> pad_hi) {
  static std::mutex mu;
  static std::map<Key, Prepared> cache;

  if (kind < 0 || kind > 2) return ffi::Error::InvalidArgument("kind must be 0, 1 or 2");
  auto type = a.element_type();
  if (type != b.element_type() || type != out->element_type() ||
      (type != ffi::DataType::F32 && type != ffi::DataType::BF16))
    return ffi::Error::InvalidArgument("operands must all be float32 or all bfloat16");
  if (strides.size() != 2 || pad_lo.size() != 2 || pad_hi.size() != 2)
    return ffi::Error::InvalidArgument("strides and pads must have two entries");
  if (a.dimensions().size() != 4 || b.dimensions().size() != 4 || out->dimensions().size() != 4)
    return ffi::Error::InvalidArgument("operands must be 4-D");

  // NHWC arrays of x and y, HWIO of K, from whichever two are operands and the result.
  auto x = kind == 2 ? a.dimensions() : (kind == 1 ? out->dimensions() : a.dimensions());
  auto k = kind == 2 ? out->dimensions() : b.dimensions();
  auto y = kind == 0 ? out->dimensions() : (kind == 1 ? a.dimensions() : b.dimensions());
  Conv c{{x[0], x[3], x[1], x[2]},
         {k[3], k[2], k[0], k[1]},
         {y[0], y[3], y[1], y[2]},
         {strides[0], strides[1]},
         {pad_lo[0], pad_lo[1]},
         {pad_hi[0], pad_hi[1]},
         type == ffi::DataType::F32 ? memory::data_type::f32 : memory::data_type::bf16};

  std::vector<int64_t> dims;
  for (const auto* d : {&c.src, &c.wei, &c.dst, &c.strides, &c.pad_lo, &c.pad_hi}) dims.insert(dims.end(), d->begin(), d->end());

  std::lock_guard<std::mutex> lock(mu);
  try {
    Key key{kind, static_cast<int>(c.dt), dims};
    auto it = cache.find(key);
    if (it == cache.end()) it = cache.emplace(key, Prepare(kind, c)).first;
    const Prepared& p = it->second;

    static dnnl::stream s(Engine());  // used under the lock only
    memory a_mem = p.a.In(a.untyped_data(), s);
    memory b_mem = p.b.In(b.untyped_data(), s);
    memory out_mem(p.out.user, Engine(), out->untyped_data());
    memory result = p.out.buffer ? *p.out.buffer : out_mem;

    std::unordered_map<int, memory> args;
    if (kind == 0) args = {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, result}};
    if (kind == 1) args = {{DNNL_ARG_DIFF_DST, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DIFF_SRC, result}};
    if (kind == 2) args = {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_DIFF_DST, b_mem}, {DNNL_ARG_DIFF_WEIGHTS, result}};
    p.prim.execute(s, args);
    if (p.out.buffer) p.out.reorder->execute(s, result, out_mem);
    s.wait();
  } catch (const dnnl::error& e) {
    return ffi::Error::Internal(std::string("oneDNN: ") + e.what());
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxganOnednnConv, Run,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int64_t>("kind")
                                  .Attr<ffi::Span<const int64_t>>("strides")
                                  .Attr<ffi::Span<const int64_t>>("pad_lo")
                                  .Attr<ffi::Span<const int64_t>>("pad_hi"));
