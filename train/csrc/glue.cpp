// The few libtorch calls tch does not bind: GPU memory statistics and names, side streams for
// host-to-device copies and NCCL's reductions, pinned host tensors, the global determinism switch, and a c10 warning
// handler that hands libtorch's warnings to Rust (which logs them with `tracing`). Compiled by
// train/build.rs against the installed libtorch's headers (build-support's compile_glue); the
// CUDA part only where libtorch is a CUDA build and the CUDA runtime headers ship beside it.
//
// Every function catches C++ exceptions and returns 0 on success; on failure it returns 1 and
// mille_last_error() says why. Tensors cross as `at::Tensor*`, the handle tch's C_tensor is.

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstring>
#include <string>

#ifdef MILLE_CUDA
// Only headers whose inline code calls no CUDA runtime function directly: events and stream
// guards go through c10's device-generic interfaces, so the glue links against libtorch_cuda
// and libc10_cuda alone, not libcudart (whose wheel has no unversioned library to link).
#include <c10/core/Event.h>
#include <c10/core/StreamGuard.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>

// Declared as ATen/cuda/CUDAContextLight.h declares it; that header pulls in cuBLAS and
// cuSPARSE, whose headers the wheel does not ship complete.
namespace at::cuda {
cudaDeviceProp* getDeviceProperties(c10::DeviceIndex device);
}
#endif

namespace {
thread_local std::string last_error;

template <typename F>
int guarded(F f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    last_error = e.what();
  } catch (...) {
    last_error = "unknown C++ exception";
  }
  return 1;
}

using WarnFn = void (*)(const char* msg, size_t len, const char* file, uint32_t line);

// Forwards every warning to Rust instead of printing it on stderr (c10's default handler).
class Forward : public c10::WarningHandler {
 public:
  explicit Forward(WarnFn f) : f_(f) {}
  void process(const c10::Warning& w) override {
    const std::string& m = w.msg();
    const c10::SourceLocation& at = w.source_location();
    f_(m.data(), m.size(), at.file, at.line);
  }

 private:
  WarnFn f_;
};

#ifndef MILLE_CUDA
[[noreturn]] void no_cuda() {
  throw std::runtime_error("mille was built against a libtorch without CUDA (or without the CUDA headers)");
}
#endif
}  // namespace

extern "C" {

// Installs the forwarding handler (process-wide; call once, before other threads use libtorch).
void mille_route_warnings(WarnFn f) {
  static Forward handler(f);
  c10::WarningUtils::set_warning_handler(&handler);
}

const char* mille_last_error() { return last_error.c_str(); }

namespace {
// `A @ x` for a sparse CSR `A` whose transpose `At` (also CSR) the caller built once: the
// backward is `At @ g`, where libtorch's own would transpose `A` again at every call (a sort of
// its entries: 4 % of a SAGE RevGNN step on the CPU, `perf`).
struct CsrMm : public torch::autograd::Function<CsrMm> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& a, const at::Tensor& at,
                            const at::Tensor& x) {
    ctx->saved_data["at"] = at;
    return at::mm(a, x);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto at = ctx->saved_data["at"].toTensor();
    return {at::Tensor(), at::Tensor(), at::mm(at, grads[0])};
  }
};
}  // namespace

// `out = A @ x` with the backward through the given transpose `At` (see CsrMm).
int mille_csr_mm(const at::Tensor* a, const at::Tensor* at, const at::Tensor* x, at::Tensor** out) {
  return guarded([&] { *out = new at::Tensor(CsrMm::apply(*a, *at, *x)); });
}

// The transpose of a sparse CSR matrix, as CSR.
int mille_csr_transpose(const at::Tensor* a, at::Tensor** out) {
  return guarded([&] { *out = new at::Tensor(a->t().to_sparse_csr()); });
}

// Backpropagates `grad` from the non-scalar `out` (what Python's `out.backward(grad)` does):
// gradients accumulate in the leaves' `.grad`. tch binds only the scalar form, which needs
// `(out * grad).sum()` first: two more passes over `out` forward and two in the backward.
int mille_backward(const at::Tensor* out, const at::Tensor* grad) {
  return guarded([&] { torch::autograd::backward({*out}, {*grad}); });
}

int mille_cuda_compiled() {
#ifdef MILLE_CUDA
  return 1;
#else
  return 0;
#endif
}

// Deterministic algorithms everywhere (index_add and the backward of index_select on CUDA then
// take their sorted, atomic-free paths), cuDNN deterministic and not benchmarking.
int mille_set_deterministic(int on) {
  return guarded([&] {
    at::globalContext().setDeterministicAlgorithms(on != 0, /*warn_only=*/true);
    at::globalContext().setDeterministicCuDNN(on != 0);
    at::globalContext().setBenchmarkCuDNN(false);
  });
}

int mille_cuda_device_name(int device, char* buf, size_t len) {
  return guarded([&] {
#ifdef MILLE_CUDA
    const cudaDeviceProp* p = at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(device));
    std::strncpy(buf, p->name, len - 1);
    buf[len - 1] = 0;
#else
    (void)device, (void)buf, (void)len;
    no_cuda();
#endif
  });
}

// The caching allocator's bytes now allocated, their peak since the last reset, and the bytes
// reserved from the driver.
int mille_cuda_memory(int device, int64_t* allocated, int64_t* peak, int64_t* reserved) {
  return guarded([&] {
#ifdef MILLE_CUDA
    auto s = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
    auto all = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    *allocated = s.allocated_bytes[all].current;
    *peak = s.allocated_bytes[all].peak;
    *reserved = s.reserved_bytes[all].current;
#else
    (void)device, (void)allocated, (void)peak, (void)reserved;
    no_cuda();
#endif
  });
}

int mille_cuda_reset_peak(int device) {
  return guarded([&] {
#ifdef MILLE_CUDA
    c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device));
#else
    (void)device;
    no_cuda();
#endif
  });
}

int mille_cuda_synchronize(int device) {
  return guarded([&] {
#ifdef MILLE_CUDA
    c10::DeviceGuard guard(c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(device)));
    c10::cuda::device_synchronize();
#else
    (void)device;
    no_cuda();
#endif
  });
}

// A copy of `src` (CPU) in page-locked memory, the source a truly asynchronous copy needs.
int mille_pin(const at::Tensor* src, at::Tensor** out) {
  return guarded([&] { *out = new at::Tensor(src->pin_memory()); });
}

// A side stream of `device` for uploads, as an opaque handle (freed by mille_stream_free).
int mille_stream_new(int device, void** out) {
  return guarded([&] {
#ifdef MILLE_CUDA
    *out = new c10::cuda::CUDAStream(c10::cuda::getStreamFromPool(false, static_cast<c10::DeviceIndex>(device)));
#else
    (void)device, (void)out;
    no_cuda();
#endif
  });
}

void mille_stream_free(void* stream) {
#ifdef MILLE_CUDA
  delete static_cast<c10::cuda::CUDAStream*>(stream);
#else
  (void)stream;
#endif
}

// Copies pinned `src` to the side stream's device, queued on the side stream (returns at once).
// The result is recorded as used by the device's current stream, so the caching allocator does
// not hand its memory to a later upload while the compute stream still reads it.
int mille_stream_upload(void* stream, const at::Tensor* src, at::Tensor** out) {
  return guarded([&] {
#ifdef MILLE_CUDA
    c10::Stream side = static_cast<c10::cuda::CUDAStream*>(stream)->unwrap();
    c10::Stream compute = c10::cuda::getCurrentCUDAStream(side.device_index()).unwrap();
    at::Tensor copy;
    {
      c10::StreamGuard guard(side);
      copy = src->to(side.device(), /*non_blocking=*/true);
    }
    copy.record_stream(compute);
    *out = new at::Tensor(std::move(copy));
#else
    (void)stream, (void)src, (void)out;
    no_cuda();
#endif
  });
}

// An event recorded on the side stream now: every upload queued so far finishes before it.
int mille_stream_event(void* stream, void** out) {
  return guarded([&] {
#ifdef MILLE_CUDA
    c10::Stream side = static_cast<c10::cuda::CUDAStream*>(stream)->unwrap();
    auto* ev = new c10::Event(c10::DeviceType::CUDA);
    ev->record(side);
    *out = ev;
#else
    (void)stream, (void)out;
    no_cuda();
#endif
  });
}

// Makes the device's current (compute) stream wait for the event, without blocking the host.
int mille_event_wait(void* event, int device) {
  return guarded([&] {
#ifdef MILLE_CUDA
    static_cast<c10::Event*>(event)->block(
        c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).unwrap());
#else
    (void)event, (void)device;
    no_cuda();
#endif
  });
}

// Makes CUDA's current device `device` (NCCL binds a communicator to the current device).
int mille_cuda_set_device(int device) {
  return guarded([&] {
#ifdef MILLE_CUDA
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(device));
#else
    (void)device;
    no_cuda();
#endif
  });
}

// The side stream's cudaStream_t, for libraries that queue work on it (NCCL).
int mille_stream_handle(void* stream, void** out) {
  return guarded([&] {
#ifdef MILLE_CUDA
    *out = static_cast<void*>(static_cast<c10::cuda::CUDAStream*>(stream)->stream());
#else
    (void)stream, (void)out;
    no_cuda();
#endif
  });
}

// Makes the side stream wait for everything queued so far on its device's current stream.
int mille_stream_wait_current(void* stream) {
  return guarded([&] {
#ifdef MILLE_CUDA
    c10::Stream side = static_cast<c10::cuda::CUDAStream*>(stream)->unwrap();
    c10::Event ev(c10::DeviceType::CUDA);
    ev.record(c10::cuda::getCurrentCUDAStream(side.device_index()).unwrap());
    ev.block(side);
#else
    (void)stream;
    no_cuda();
#endif
  });
}

// Tells the caching allocator that the side stream uses `t`, so its memory is not reused before
// the side stream's work on it is done.
int mille_stream_record(void* stream, const at::Tensor* t) {
  return guarded([&] {
#ifdef MILLE_CUDA
    t->record_stream(static_cast<c10::cuda::CUDAStream*>(stream)->unwrap());
#else
    (void)stream, (void)t;
    no_cuda();
#endif
  });
}

// Whether the work before the event has finished (never blocks).
int mille_event_query(void* event, int* done) {
  return guarded([&] {
#ifdef MILLE_CUDA
    *done = static_cast<c10::Event*>(event)->query() ? 1 : 0;
#else
    (void)event, (void)done;
    no_cuda();
#endif
  });
}

void mille_event_free(void* event) {
#ifdef MILLE_CUDA
  delete static_cast<c10::Event*>(event);
#else
  (void)event;
#endif
}

}  // extern "C"
