#include "host_runner.hpp"

#include <barrier>
#include <thread>
#include <vector>

namespace kcache::test {

HostLoader& host_loader() {
    // Leaked: modules held by statics are destroyed after it otherwise.
    static HostLoader* loader = new HostLoader;
    return *loader;
}

void launch(Dim3 grid, Dim3 block, std::uint64_t shared_bytes,
            const std::function<void(host::LaunchContext*)>& thread) {
    const unsigned threads = block.x * block.y * block.z;
    std::vector<std::max_align_t> shared(
        (shared_bytes + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t) + 1);
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                std::barrier<> sync(threads);
                std::vector<std::thread> pool;
                pool.reserve(threads);
                for (unsigned t = 0; t < threads; ++t)
                    pool.emplace_back([&, t] {
                        host::LaunchContext c{};
                        c.grid_dim[0] = grid.x, c.grid_dim[1] = grid.y, c.grid_dim[2] = grid.z;
                        c.block_dim[0] = block.x, c.block_dim[1] = block.y,
                        c.block_dim[2] = block.z;
                        c.block_idx[0] = bx, c.block_idx[1] = by, c.block_idx[2] = bz;
                        c.thread_idx[0] = t % block.x;
                        c.thread_idx[1] = (t / block.x) % block.y;
                        c.thread_idx[2] = t / (block.x * block.y);
                        c.shared_memory = shared.data();
                        c.runtime_data = &sync;
                        c.barrier = [](host::LaunchContext* ctx) {
                            static_cast<std::barrier<>*>(ctx->runtime_data)->arrive_and_wait();
                        };
                        thread(&c);
                    });
                for (auto& t : pool)
                    t.join();
            }
}

float run_store_kernel(const Artifact& a) {
    HostModule m(a);
    auto fn = m.lookup<void (*)(float*, host::LaunchContext*)>(a.kernel_symbol);
    float out = 0;
    launch({1}, {1}, a.static_shared_bytes, [&](host::LaunchContext* c) { fn(&out, c); });
    return out;
}

} // namespace kcache::test
