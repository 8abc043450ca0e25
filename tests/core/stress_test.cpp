// Lookups, compilations and redefinitions from several threads at once. The invariant: once a
// redefinition has returned, no lookup that starts afterwards is served code compiled from an
// older definition, directly or through a dependency.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "core/compiler_cache.hpp"
#include "core/type_of.hpp"
#include "test_support.hpp"

namespace kcache {
namespace {

using namespace types;

struct Versioned {
    long version;
    Function* callee; // compiled through the cache when set
};

struct StressKey {
    int shard;
    bool operator==(const StressKey&) const = default;
};
struct StressKeyHash {
    std::size_t operator()(const StressKey& k) const { return static_cast<std::size_t>(k.shard); }
};

TEST(Stress, NoStaleResultAfterRedefinition) {
    Function& leaf = test::fresh_function("stress_leaf");
    Function& caller = test::fresh_function("stress_caller");
    Function& steady = test::fresh_function("stress_steady");
    add_method(leaf, Signature{Int64()}, Versioned{0, nullptr});
    add_method(caller, Signature{Int64()}, Versioned{0, &leaf});
    add_method(steady, Signature{Int64()}, Versioned{-1, nullptr});

    CompilerCache<long, StressKey, StressKeyHash> cache("Stress");
    auto compile = [](auto& ctx) -> long {
        const Versioned& v = ctx.mi().def().template source<Versioned>();
        if (v.callee)
            return ctx.compile(*v.callee, ctx.mi().spec_types()); // the leaf's version
        return v.version;
    };

    std::atomic<long> published{0}; // the newest leaf version whose add_method returned
    std::atomic<bool> stop{false};
    std::atomic<long> stale{0}, lookups{0};
    const Type tt = tt_of<std::int64_t>();

    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t)
        readers.emplace_back([&, t] {
            int i = 0;
            while (!stop.load(std::memory_order_relaxed)) {
                const StressKey key{(t + i++) % 4};
                const long floor = published.load(std::memory_order_acquire);
                const auto r = cached_compilation(cache, caller, tt, key, compile);
                const auto direct = cached_compilation(cache, leaf, tt, key, compile);
                const auto s = cached_compilation(cache, steady, tt, key, compile);
                if (!r || *r < floor || !direct || *direct < floor || s != -1)
                    stale.fetch_add(1);
                lookups.fetch_add(3, std::memory_order_relaxed);
            }
        });
    std::thread writer([&] {
        for (long v = 1; v <= 200; ++v) {
            add_method(leaf, Signature{Int64()}, Versioned{v, nullptr});
            published.store(v, std::memory_order_release);
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    });
    writer.join();
    stop = true;
    for (auto& r : readers)
        r.join();

    EXPECT_EQ(stale.load(), 0);
    EXPECT_GT(lookups.load(), 600);
    EXPECT_EQ(cached_compilation(cache, caller, tt, StressKey{0}, compile), 200);
    const CacheStats stats = cache.stats();
    EXPECT_GT(stats.hits, 0u);
    EXPECT_GT(stats.invalidations, 0u);
    // The steady function was compiled once per shard and never invalidated.
    EXPECT_EQ(stats.entries, 12u);
}

TEST(Stress, ConcurrentDefinitionsAndDispatch) {
    Function& f = test::fresh_function("stress_dispatch");
    add_method(f, Signature{Any()}, 0);
    std::atomic<bool> stop{false};
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    const Type types_[] = {Int8(), Int16(), Int32(), Int64(), Float32(), Float64()};
    for (int t = 0; t < 2; ++t)
        threads.emplace_back([&] {
            while (!stop.load()) {
                for (Type ty : types_) {
                    MethodInstance* mi = method_instance(f, Type::tuple({ty}));
                    if (!mi)
                        wrong.fetch_add(1);
                }
            }
        });
    for (int i = 0; i < 6; ++i) {
        add_method(f, Signature{types_[i]}, i + 1);
        // Once defined, the specific method must be what dispatch returns.
        EXPECT_EQ(method_instance(f, Type::tuple({types_[i]}))->def().source<int>(), i + 1);
    }
    stop = true;
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(wrong.load(), 0);
}

} // namespace
} // namespace kcache
