// Lookups, compilations and redefinitions from several threads at once. The invariant: once a
// redefinition has returned, no lookup that starts afterwards is served code compiled from an
// older definition, directly or through a dependency.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
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

    constexpr int kReaders = 3;
    constexpr long kVersions = 200;
    std::atomic<long> published{0}; // the newest leaf version whose add_method returned
    std::atomic<bool> stop{false};
    std::atomic<long> stale{0}, lookups{0};
    // Per reader: the newest published version that a whole round of its lookups started after,
    // and how many new versions it saw that way. The writer waits for every reader to finish a
    // round in each new world before publishing the next, so every reader observes every one.
    std::atomic<long> observed[kReaders] = {};
    long worlds[kReaders] = {};
    const Type tt = tt_of<std::int64_t>();

    std::vector<std::thread> readers;
    for (int t = 0; t < kReaders; ++t)
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
                if (floor != observed[t].load(std::memory_order_relaxed)) {
                    ++worlds[t]; // read by the main thread after the join
                    observed[t].store(floor, std::memory_order_release);
                    observed[t].notify_all();
                }
            }
        });
    std::thread writer([&] {
        for (long v = 1; v <= kVersions; ++v) {
            add_method(leaf, Signature{Int64()}, Versioned{v, nullptr});
            published.store(v, std::memory_order_release);
            // Lookups race the next redefinition only once each reader has seen this one. The
            // readers loop until `stop`, so each gets here (a reader that hangs in a lookup
            // hangs the test, which ctest's timeout ends).
            for (auto& o : observed)
                for (long seen = o.load(std::memory_order_acquire); seen < v;
                     seen = o.load(std::memory_order_acquire))
                    o.wait(seen, std::memory_order_acquire);
        }
    });
    writer.join();
    stop = true;
    for (auto& r : readers)
        r.join();

    EXPECT_EQ(stale.load(), 0);
    for (int t = 0; t < kReaders; ++t)
        EXPECT_EQ(worlds[t], kVersions) << "reader " << t << " saw each redefinition once";
    EXPECT_GE(lookups.load(), kReaders * 3 * kVersions) << "a round of three per reader and world";
    EXPECT_EQ(cached_compilation(cache, caller, tt, StressKey{0}, compile), 200);
    const CacheStats stats = cache.stats();
    EXPECT_GT(stats.hits, 0u);
    EXPECT_GT(stats.invalidations, 0u);
    // The steady function was compiled once per shard and never invalidated.
    EXPECT_EQ(stats.entries, 12u);
}

// Definitions of every kind racing compilations that dispatch their callee late, through
// ctx.method_instance or ctx.compile: redefinition, a more specific method, an overlay method
// shadowing the global one, a redefinition in the overlay. Each definition wins dispatch with a
// higher version, so a served result below the version published before the lookup began is
// stale.
TEST(Stress, NoStaleResultWhenCalleesAreDispatchedLate) {
    MethodTable& overlay = test::fresh_overlay("stress_late_overlay");
    struct Trial {
        Function* leaf;
        Function* caller;
        std::atomic<long> published{1};
    };
    constexpr int kTrials = 40;
    std::vector<std::unique_ptr<Trial>> trials;
    for (int i = 0; i < kTrials; ++i) {
        auto t = std::make_unique<Trial>();
        t->leaf = &test::fresh_function("stress_late_leaf");
        t->caller = &test::fresh_function("stress_late_caller");
        add_method(*t->leaf, Signature{Integer()}, Versioned{1, nullptr});
        add_method(*t->caller, Signature{Int64()}, Versioned{i % 2, t->leaf}); // 1: ctx.compile
        trials.push_back(std::move(t));
    }
    CompilerCache<long> cache("StressLate", overlay);
    auto compile = [](auto& ctx) -> long {
        const Versioned& v = ctx.mi().def().template source<Versioned>();
        if (!v.callee)
            return v.version;
        std::this_thread::yield(); // a definition may land here
        if (v.version == 1)
            return ctx.compile(*v.callee, ctx.mi().spec_types());
        MethodInstance* leaf = ctx.method_instance(*v.callee, ctx.mi().spec_types());
        return leaf->def().template source<Versioned>().version;
    };

    std::atomic<int> current{0};
    std::atomic<long> stale{0}, lookups{0};
    const Type tt = tt_of<std::int64_t>();
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r)
        readers.emplace_back([&] {
            for (int i; (i = current.load(std::memory_order_acquire)) < kTrials;) {
                Trial& t = *trials[i];
                const long floor = t.published.load(std::memory_order_acquire);
                const auto got = cached_compilation(cache, *t.caller, tt, compile);
                if (!got || *got < floor)
                    stale.fetch_add(1);
                lookups.fetch_add(1, std::memory_order_relaxed);
            }
        });
    for (int i = 0; i < kTrials; ++i) {
        Trial& t = *trials[i];
        auto publish = [&](long v) { t.published.store(v, std::memory_order_release); };
        add_method(*t.leaf, Signature{Integer()}, Versioned{2, nullptr}); // redefinition
        publish(2);
        add_method(*t.leaf, Signature{Int64()}, Versioned{3, nullptr}); // more specific
        publish(3);
        add_method(overlay, *t.leaf, Signature{Int64()}, Versioned{4, nullptr}); // shadowing
        publish(4);
        add_method(overlay, *t.leaf, Signature{Int64()}, Versioned{5, nullptr}); // overlay redef
        publish(5);
        // Let the readers see the final state before the next trial.
        const long seen = lookups.load();
        while (lookups.load() < seen + 3)
            std::this_thread::yield();
        current.store(i + 1, std::memory_order_release);
    }
    for (auto& r : readers)
        r.join();

    EXPECT_EQ(stale.load(), 0);
    for (auto& t : trials)
        EXPECT_EQ(cached_compilation(cache, *t->caller, tt, compile), 5);
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
