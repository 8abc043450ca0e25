#include "runtime/host_device.hpp"

#include "kernels/kernel_compiler.hpp"
#include "runtime/errors.hpp"
#include "runtime/fiber.hpp"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/TargetParser/Host.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace kcache::runtime {
namespace {

constexpr std::size_t kFiberStackBytes = 256 * 1024;
constexpr std::uint64_t kMaxBlockThreads = 1024;

// One launch: the blocks still to run and who is running them. Lives on the launching thread's
// stack until every participant is done with it.
struct Job {
    HostInvokeFn invoke = nullptr;
    void* entry = nullptr;
    void* const* args = nullptr;
    Dim3 grid, block;
    std::size_t shared_bytes = 0;
    std::uint64_t total = 0;
    std::atomic<std::uint64_t> next{0};
    int active = 0;      // workers inside run_blocks; guarded by the pool's mutex
    Job* link = nullptr; // pool's job list; guarded by the pool's mutex
};

struct BlockRunner;

struct Fiber {
    detail::FiberContext ctx;
    detail::FiberStack stack{kFiberStackBytes};
    host::LaunchContext lc{};
    BlockRunner* runner = nullptr;
    bool idle = true;
    ~Fiber() { detail::fiber_release(ctx); }
};

// Per OS thread (worker or launching thread): fibers, their free list and the shared memory of
// the block being run. Everything is reused from one block to the next; nothing allocates once
// it has grown to the largest block seen.
struct BlockRunner {
    detail::FiberContext sched;
    const Job* job = nullptr;
    std::uint32_t next_thread = 0, nthreads = 0;
    std::vector<std::unique_ptr<Fiber>> fibers;
    std::vector<Fiber*> free, waiting, round;
    std::byte* shared = nullptr;
    std::size_t shared_capacity = 0;

    BlockRunner() {
        free.reserve(kMaxBlockThreads);
        waiting.reserve(kMaxBlockThreads);
        round.reserve(kMaxBlockThreads);
    }
    ~BlockRunner() {
        ::operator delete[](shared, std::align_val_t(64));
        detail::fiber_release(sched);
    }

    static void barrier(host::LaunchContext* lc) {
        auto* f = static_cast<Fiber*>(lc->runtime_data);
        BlockRunner& r = *f->runner;
        r.waiting.push_back(f);
        detail::fiber_switch(f->ctx, r.sched);
    }

    static void fiber_main(void* p) {
        auto* f = static_cast<Fiber*>(p);
        BlockRunner& r = *f->runner;
        for (;;) {
            while (r.next_thread < r.nthreads) {
                const std::uint32_t t = r.next_thread++;
                const Dim3& b = r.job->block;
                f->lc.thread_idx[0] = t % b.x;
                f->lc.thread_idx[1] = (t / b.x) % b.y;
                f->lc.thread_idx[2] = t / (b.x * b.y);
                r.job->invoke(r.job->entry, r.job->args, &f->lc);
            }
            f->idle = true;
            detail::fiber_switch(f->ctx, r.sched);
        }
    }

    Fiber* take_fiber() {
        if (!free.empty()) {
            Fiber* f = free.back();
            free.pop_back();
            return f;
        }
        auto f = std::make_unique<Fiber>();
        f->runner = this;
        detail::fiber_init(f->ctx, f->stack, &fiber_main, f.get());
        fibers.push_back(std::move(f));
        return fibers.back().get();
    }

    void resume(Fiber* f) {
        detail::fiber_switch(sched, f->ctx);
        if (f->idle)
            free.push_back(f);
    }

    void run_block(const Job& j, std::uint32_t bx, std::uint32_t by, std::uint32_t bz) {
        job = &j;
        next_thread = 0;
        nthreads = static_cast<std::uint32_t>(j.block.count());
        waiting.clear();
        for (;;) {
            if (next_thread < nthreads) {
                Fiber* f = take_fiber();
                host::LaunchContext& c = f->lc;
                c.grid_dim[0] = j.grid.x, c.grid_dim[1] = j.grid.y, c.grid_dim[2] = j.grid.z;
                c.block_dim[0] = j.block.x, c.block_dim[1] = j.block.y, c.block_dim[2] = j.block.z;
                c.block_idx[0] = bx, c.block_idx[1] = by, c.block_idx[2] = bz;
                c.shared_memory = shared;
                c.barrier = &BlockRunner::barrier;
                c.runtime_data = f;
                f->idle = false;
                resume(f);
            } else if (!waiting.empty()) {
                // Every thread has started; those not finished wait at the barrier: open it.
                round.swap(waiting);
                for (Fiber* f : round)
                    resume(f);
                round.clear();
            } else {
                break;
            }
        }
    }

    void run_blocks(Job& j) {
        if (j.shared_bytes > shared_capacity) {
            ::operator delete[](shared, std::align_val_t(64));
            shared = nullptr;
            shared_capacity = 0;
            const std::size_t cap = std::max<std::size_t>(j.shared_bytes, 4096);
            shared = static_cast<std::byte*>(::operator new[](cap, std::align_val_t(64)));
            shared_capacity = cap;
        }
        const std::uint64_t gx = j.grid.x, gxy = gx * j.grid.y;
        for (;;) {
            const std::uint64_t b = j.next.fetch_add(1, std::memory_order_relaxed);
            if (b >= j.total)
                return;
            run_block(j, static_cast<std::uint32_t>(b % gx),
                      static_cast<std::uint32_t>((b / gx) % j.grid.y),
                      static_cast<std::uint32_t>(b / gxy));
        }
    }
};

BlockRunner& this_thread_runner() {
    thread_local BlockRunner runner;
    return runner;
}

// A fixed pool of workers that help with the blocks of the jobs in its list.
class ThreadPool {
public:
    explicit ThreadPool(unsigned n) {
        for (unsigned i = 0; i < n; ++i)
            threads_.emplace_back([this] { work(); });
    }
    ~ThreadPool() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        work_cv_.notify_all();
        for (auto& t : threads_)
            t.join();
    }
    unsigned size() const { return static_cast<unsigned>(threads_.size()); }

    // Runs every block of `j`, with the calling thread's help; returns when all are done.
    void run(Job& j) {
        if (threads_.empty() || j.total == 1) {
            this_thread_runner().run_blocks(j);
            return;
        }
        {
            std::lock_guard lock(mutex_);
            j.link = head_;
            head_ = &j;
        }
        if (j.total == 2)
            work_cv_.notify_one();
        else
            work_cv_.notify_all();
        this_thread_runner().run_blocks(j);
        std::unique_lock lock(mutex_);
        done_cv_.wait(lock, [&] { return j.active == 0; });
        for (Job** p = &head_; *p; p = &(*p)->link)
            if (*p == &j) {
                *p = j.link;
                break;
            }
    }

private:
    Job* find_locked() const {
        for (Job* j = head_; j; j = j->link)
            if (j->next.load(std::memory_order_relaxed) < j->total)
                return j;
        return nullptr;
    }
    void work() {
        BlockRunner& runner = this_thread_runner();
        std::unique_lock lock(mutex_);
        for (;;) {
            Job* j = find_locked();
            if (!j) {
                if (stop_)
                    return;
                work_cv_.wait(lock);
                continue;
            }
            ++j->active;
            lock.unlock();
            runner.run_blocks(*j);
            lock.lock();
            if (--j->active == 0)
                done_cv_.notify_all();
        }
    }

    std::mutex mutex_;
    std::condition_variable work_cv_, done_cv_;
    Job* head_ = nullptr;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

class HostStream final : public Stream {
public:
    explicit HostStream(Device& d) : Stream(d) {}
    void synchronize() override {} // host launches and copies complete before returning
};

} // namespace

struct HostDevice::Impl {
    std::string name;
    TargetSpec spec;
    std::unique_ptr<llvm::orc::LLJIT> jit;
    mutable std::mutex jit_mutex; // loads and unloads
    std::uint64_t module_counter = 0;
    std::atomic<std::size_t> loaded{0};
    std::unique_ptr<ThreadPool> pool;
};

namespace {

class HostModule final : public Module {
public:
    HostModule(HostDevice& d, HostDevice::Impl& impl, const Artifact& a)
        : Module(d, a.kernel_symbol), impl_(impl) {
        std::lock_guard lock(impl.jit_mutex);
        auto& jit = *impl.jit;
        auto jd = jit.createJITDylib("kcache.module." + std::to_string(++impl.module_counter) +
                                     "." + a.kernel_symbol);
        if (!jd)
            fail("creating a JITDylib", jd.takeError());
        jd_ = &*jd;
        auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
            jit.getDataLayout().getGlobalPrefix());
        if (!gen)
            fail("resolving process symbols", gen.takeError());
        jd_->addGenerator(std::move(*gen));
        auto buf = llvm::MemoryBuffer::getMemBufferCopy(
            llvm::StringRef(reinterpret_cast<const char*>(a.bytes.data()), a.bytes.size()),
            a.kernel_symbol);
        if (auto err = jit.addObjectFile(*jd_, std::move(buf)))
            fail("adding the object", std::move(err));
        auto entry = jit.lookup(*jd_, a.kernel_symbol);
        if (!entry)
            fail("looking up the kernel", entry.takeError());
        function_ = entry->toPtr<void*>();
        auto shared = jit.lookup(*jd_, a.kernel_symbol + ".kcache.shared_bytes");
        if (!shared)
            fail("looking up the shared-memory size", shared.takeError());
        static_shared_bytes_ = *shared->toPtr<const std::uint64_t*>();
        impl.loaded.fetch_add(1, std::memory_order_relaxed);
    }

    ~HostModule() override {
        if (!jd_)
            return;
        std::lock_guard lock(impl_.jit_mutex);
        if (auto err = impl_.jit->getExecutionSession().removeJITDylib(*jd_))
            llvm::consumeError(std::move(err)); // nothing to do about it in a destructor
        impl_.loaded.fetch_sub(1, std::memory_order_relaxed);
    }

private:
    [[noreturn]] void fail(const char* what, llvm::Error err) {
        std::string msg = "host device: loading kernel '" + kernel_name() + "' failed while " +
                          what + ": " + llvm::toString(std::move(err));
        if (jd_) {
            if (auto e = impl_.jit->getExecutionSession().removeJITDylib(*jd_))
                llvm::consumeError(std::move(e));
            jd_ = nullptr;
        }
        throw RuntimeError(msg);
    }
    HostDevice::Impl& impl_;
    llvm::orc::JITDylib* jd_ = nullptr;
};

} // namespace

HostDevice::HostDevice(HostDeviceOptions options) : impl_(std::make_unique<Impl>()) {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    auto jit = llvm::orc::LLJITBuilder().create();
    if (!jit)
        throw RuntimeError("host device: cannot create the ORC LLJIT: " +
                           llvm::toString(jit.takeError()));
    impl_->jit = std::move(*jit);
    impl_->spec = kernels::KernelCompiler::resolve({TargetKind::Host, "", options.opt_level});
    unsigned workers = options.workers;
    if (workers == 0) {
        const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
        workers = hw - 1;
    }
    impl_->pool = std::make_unique<ThreadPool>(workers);
    impl_->name = "host (" + impl_->spec.arch + ", " + std::to_string(workers + 1) + " threads)";
}

HostDevice::~HostDevice() = default;

const std::string& HostDevice::name() const {
    return impl_->name;
}
const TargetSpec& HostDevice::target() const {
    return impl_->spec;
}
std::size_t HostDevice::loaded_modules() const {
    return impl_->loaded.load(std::memory_order_relaxed);
}
unsigned HostDevice::workers() const {
    return impl_->pool->size();
}

void* HostDevice::allocate(std::size_t bytes) {
    if (bytes == 0)
        return nullptr;
    const std::size_t rounded = (bytes + 255) / 256 * 256;
    void* p = std::aligned_alloc(256, rounded);
    if (!p)
        throw RuntimeError("host device: out of memory allocating " + std::to_string(bytes) +
                           " bytes");
    return p;
}
void HostDevice::free(void* p) noexcept {
    std::free(p);
}
void HostDevice::copy_to_device(void* dst, const void* src, std::size_t n, Stream*) {
    if (n)
        std::memcpy(dst, src, n);
}
void HostDevice::copy_to_host(void* dst, const void* src, std::size_t n, Stream*) {
    if (n)
        std::memcpy(dst, src, n);
}
void HostDevice::copy_on_device(void* dst, const void* src, std::size_t n, Stream*) {
    if (n)
        std::memmove(dst, src, n);
}

std::unique_ptr<Stream> HostDevice::create_stream() {
    return std::make_unique<HostStream>(*this);
}

std::unique_ptr<Module> HostDevice::load(const Artifact& a) {
    if (a.kind != TargetKind::Host || a.format != "object")
        throw RuntimeError("host device: cannot load a " + std::string(to_string(a.kind)) + " '" +
                           a.format + "' artifact of '" + a.kernel_symbol +
                           "'; it needs a host object");
    return std::make_unique<HostModule>(*this, *impl_, a);
}

void HostDevice::launch(const Module& module, const LaunchConfig& cfg, const KernelArgs& args,
                        Completion done) {
    const std::uint64_t threads = cfg.block.count();
    if (threads == 0 || threads > kMaxBlockThreads || cfg.grid.count() == 0)
        throw LaunchError("host device: cannot launch '" + module.kernel_name() + "' with grid (" +
                          std::to_string(cfg.grid.x) + "," + std::to_string(cfg.grid.y) + "," +
                          std::to_string(cfg.grid.z) + ") and block (" +
                          std::to_string(cfg.block.x) + "," + std::to_string(cfg.block.y) + "," +
                          std::to_string(cfg.block.z) + "): blocks of 1.." +
                          std::to_string(kMaxBlockThreads) + " threads, a non-empty grid");
    if (!args.host_invoke)
        throw LaunchError("host device: launch of '" + module.kernel_name() +
                          "' without a host invoker (use runtime::launch)");
    Job j;
    j.invoke = args.host_invoke;
    j.entry = module.function();
    j.args = args.values;
    j.grid = cfg.grid;
    j.block = cfg.block;
    j.shared_bytes = module.static_shared_bytes() + cfg.shared_bytes;
    j.total = cfg.grid.count();
    impl_->pool->run(j);
    if (done.fn)
        done.fn(done.data);
}

const char* to_string(DeviceKind kind) {
    switch (kind) {
    case DeviceKind::Host:
        return "host";
    case DeviceKind::Cuda:
        return "cuda";
    case DeviceKind::Hip:
        return "hip";
    }
    return "unknown";
}

} // namespace kcache::runtime
