#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <latch>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/compiler_cache.hpp"
#include "core/errors.hpp"
#include "core/type_of.hpp"
#include "test_support.hpp"

namespace kcache {
namespace {

using namespace types;
using test::fresh_function;
using test::fresh_overlay;

// A tiny foreign IR: a constant plus calls to other functions with the same argument types.
// "Compiling" sums the constant and the callees' compiled values, so a result shows exactly
// which definitions it was built from.
struct SumIR {
    long value;
    std::vector<Function*> callees;
};

struct Key {
    std::string arch;
    int opt_level;
    bool operator==(const Key&) const = default;
};
struct KeyHash {
    std::size_t operator()(const Key& k) const {
        return std::hash<std::string>{}(k.arch) * 31 + static_cast<std::size_t>(k.opt_level);
    }
};

template <class Ctx>
long compile_sum(Ctx& ctx, std::atomic<int>* count = nullptr) {
    if (count)
        count->fetch_add(1);
    const SumIR& ir = ctx.mi().def().template source<SumIR>();
    long total = ir.value;
    for (Function* callee : ir.callees)
        total += ctx.compile(*callee, ctx.mi().spec_types());
    return total;
}

TEST(CompilerCache, CompilesOnceThenHits) {
    Function& f = fresh_function("basic");
    add_method(f, Signature{Int64()}, SumIR{100, {}});
    CompilerCache<long> cache("Basic");
    std::atomic<int> compiles{0};
    auto compile = [&](auto& ctx) { return compile_sum(ctx, &compiles); };
    EXPECT_EQ(cached_compilation(cache, f, tt_of<std::int64_t>(), compile), 100);
    EXPECT_EQ(cached_compilation(cache, f, tt_of<std::int64_t>(), compile), 100);
    EXPECT_EQ(cached_compilation(cache, f, typeof_args(std::int64_t{42}), compile), 100);
    EXPECT_EQ(compiles.load(), 1);
    CacheStats s = cache.stats();
    EXPECT_EQ(s.hits, 2u);
    EXPECT_EQ(s.misses, 1u);
    EXPECT_EQ(s.compilations, 1u);
    EXPECT_EQ(s.entries, 1u);
    EXPECT_GT(s.compile_time.count(), 0);
    ASSERT_NE(cache.lookup(f, tt_of<std::int64_t>()), nullptr);
    EXPECT_EQ(*cache.lookup(f, tt_of<std::int64_t>()), 100);
}

TEST(CompilerCache, KeysPartitionTheCache) {
    Function& f = fresh_function("sharded");
    add_method(f, Signature{Int64()}, SumIR{1, {}});
    CompilerCache<std::string, Key, KeyHash> cache("Sharded");
    int compiles = 0;
    auto compile = [&](auto& ctx) {
        ++compiles;
        return ctx.key().arch + "/O" + std::to_string(ctx.key().opt_level);
    };
    Type tt = tt_of<std::int64_t>();
    EXPECT_EQ(cached_compilation(cache, f, tt, Key{"sm_80", 3}, compile), "sm_80/O3");
    EXPECT_EQ(cached_compilation(cache, f, tt, Key{"sm_90", 3}, compile), "sm_90/O3");
    EXPECT_EQ(cached_compilation(cache, f, tt, Key{"sm_80", 0}, compile), "sm_80/O0");
    EXPECT_EQ(cached_compilation(cache, f, tt, Key{"sm_80", 3}, compile), "sm_80/O3");
    EXPECT_EQ(compiles, 3);
    // Redefinition invalidates every shard.
    add_method(f, Signature{Int64()}, SumIR{2, {}});
    EXPECT_EQ(cache.lookup(f, tt, Key{"sm_80", 3}), nullptr);
    EXPECT_EQ(cache.lookup(f, tt, Key{"sm_90", 3}), nullptr);
    EXPECT_EQ(cache.lookup(f, tt, Key{"sm_80", 0}), nullptr);
    EXPECT_EQ(cache.stats().invalidations, 3u);
}

TEST(CompilerCache, DifferentCachesNeverShareEntries) {
    Function& f = fresh_function("tags");
    add_method(f, Signature{Int64()}, SumIR{7, {}});
    CompilerCache<std::string> a("CompilerA");
    CompilerCache<std::string> b("CompilerB");
    Type tt = tt_of<std::int64_t>();
    EXPECT_EQ(cached_compilation(a, f, tt, [](auto&) { return std::string("a"); }), "a");
    EXPECT_EQ(cached_compilation(b, f, tt, [](auto&) { return std::string("b"); }), "b");
    EXPECT_EQ(cached_compilation(a, f, tt, [](auto&) { return std::string("x"); }), "a");
    EXPECT_EQ(a.tag(), "CompilerA");
    EXPECT_THROW(CompilerCache<int>(""), InvalidArgumentError);
}

TEST(CompilerCache, OverlayTablesCompileTheirOwnMethods) {
    Function& kernel = fresh_function("device_kernel");
    add_method(kernel, Signature{Int64()}, SumIR{-1, {}}); // "not for direct use"
    MethodTable& device = fresh_overlay("device");
    add_method(device, kernel, Signature{Int64()}, SumIR{84, {}});
    CompilerCache<long> device_cache("Device", device);
    CompilerCache<long> host_cache("Host");
    auto compile = [](auto& ctx) { return compile_sum(ctx); };
    EXPECT_EQ(cached_compilation(device_cache, kernel, tt_of<std::int64_t>(), compile), 84);
    EXPECT_EQ(cached_compilation(host_cache, kernel, tt_of<std::int64_t>(), compile), -1);
    EXPECT_EQ(&device_cache.method_table(), &device);
    // The seed's add_method(cache, ...) adds to the cache's table.
    Function& other = fresh_function("overlay_only");
    add_method(device_cache, other, Signature{Int64()}, SumIR{5, {}});
    EXPECT_EQ(cached_compilation(device_cache, other, tt_of<std::int64_t>(), compile), 5);
    EXPECT_EQ(cached_compilation(host_cache, other, tt_of<std::int64_t>(), compile), std::nullopt);
}

TEST(CompilerCache, CustomIRRedefinitionRecompiles) {
    Function& f = fresh_function("custom_ir");
    add_method(f, Signature{Int64()}, SumIR{1, {}});
    CompilerCache<long> cache("CustomIR");
    std::atomic<int> compiles{0};
    auto compile = [&](auto& ctx) { return compile_sum(ctx, &compiles); };
    Type tt = tt_of<std::int64_t>();
    EXPECT_EQ(cached_compilation(cache, f, tt, compile), 1);
    add_method(f, Signature{Int64()}, SumIR{2, {}});
    EXPECT_EQ(cached_compilation(cache, f, tt, compile), 2);
    EXPECT_EQ(cached_compilation(cache, f, tt, compile), 2);
    EXPECT_EQ(compiles.load(), 2);
    EXPECT_EQ(cache.stats().invalidations, 1u);
}

TEST(CompilerCache, RedefiningOneMethodRecompilesOnlyThatOne) {
    Function& f = fresh_function("dispatch_redefine");
    add_method(f, Signature{Int64()}, SumIR{64, {}});
    add_method(f, Signature{Float64()}, SumIR{-64, {}});
    CompilerCache<long> cache("MultipleDispatch");
    std::atomic<int> compiles{0};
    auto compile = [&](auto& ctx) { return compile_sum(ctx, &compiles); };
    EXPECT_EQ(cached_compilation(cache, f, tt_of<std::int64_t>(), compile), 64);
    EXPECT_EQ(cached_compilation(cache, f, tt_of<double>(), compile), -64);
    add_method(f, Signature{Float64()}, SumIR{-65, {}});
    EXPECT_NE(cache.lookup(f, tt_of<std::int64_t>()), nullptr); // untouched: still hits
    EXPECT_EQ(cache.lookup(f, tt_of<double>()), nullptr);
    EXPECT_EQ(cached_compilation(cache, f, tt_of<double>(), compile), -65);
    EXPECT_EQ(cached_compilation(cache, f, tt_of<std::int64_t>(), compile), 64);
    EXPECT_EQ(compiles.load(), 3);
}

TEST(CompilerCache, MissingMethodGivesEmptyAndCachesNothing) {
    Function& f = fresh_function("missing");
    add_method(f, Signature{Int64()}, SumIR{1, {}});
    CompilerCache<long> cache("Missing");
    int compiles = 0;
    auto compile = [&](auto&) { return ++compiles; };
    EXPECT_EQ(cached_compilation(cache, f, tt_of<double>(), compile), std::nullopt);
    EXPECT_EQ(compiles, 0);
    EXPECT_EQ(cache.stats().compilations, 0u);
    // Defining the method later makes the same call compile.
    add_method(f, Signature{Float64()}, SumIR{2, {}});
    EXPECT_EQ(cached_compilation(cache, f, tt_of<double>(), compile), 1);
}

TEST(CompilerCache, BadInputIsATypedErrorAndCachesNothing) {
    Function& f = fresh_function("bad_input");
    add_method(f, Signature{Real()}, SumIR{1, {}});
    add_method(f, Signature{Int64(), Real()}, SumIR{1, {}});
    add_method(f, Signature{Real(), Int64()}, SumIR{1, {}});
    CompilerCache<long> cache("BadInput");
    auto compile = [](auto&) { return 0L; };
    EXPECT_THROW(cached_compilation(cache, f, Type::tuple({Real()}), compile), AbstractTypeError);
    EXPECT_THROW(cached_compilation(cache, f, Type::tuple({Int64(), Int64()}), compile),
                 AmbiguityError);
    EXPECT_EQ(cached_compilation(cache, f, Type::tuple({Int64(), Int64(), Int64()}), compile),
              std::nullopt);
    EXPECT_EQ(cache.stats().compilations, 0u);
    EXPECT_EQ(cache.stats().entries, 2u); // the ambiguous and the arity probes, both empty
    EXPECT_EQ(cache.lookup(f, Type::tuple({Int64(), Int64()})), nullptr);
}

TEST(CompilerCache, ThreeLevelDependencyInvalidation) {
    Function& leaf = fresh_function("leaf");
    Function& mid = fresh_function("mid");
    Function& top = fresh_function("top");
    Function& unrelated = fresh_function("unrelated");
    add_method(leaf, Signature{Int64()}, SumIR{1, {}});
    add_method(mid, Signature{Int64()}, SumIR{10, {&leaf}});
    add_method(top, Signature{Int64()}, SumIR{100, {&mid}});
    add_method(unrelated, Signature{Int64()}, SumIR{1000, {}});
    CompilerCache<long> cache("ThreeLevel");
    std::atomic<int> compiles{0};
    auto compile = [&](auto& ctx) { return compile_sum(ctx, &compiles); };
    Type tt = tt_of<std::int64_t>();
    EXPECT_EQ(cached_compilation(cache, top, tt, compile), 111);
    EXPECT_EQ(cached_compilation(cache, unrelated, tt, compile), 1000);
    EXPECT_EQ(compiles.load(), 4);

    std::vector<std::string> invalidated;
    Subscription sub = cache.add_invalidation_listener([&](const InvalidationEvent& ev) {
        for (const CodeInstance* ci : ev.code_instances)
            invalidated.push_back(ci->mi().function().name());
    });
    add_method(leaf, Signature{Int64()}, SumIR{2, {}});
    EXPECT_EQ(std::set<std::string>(invalidated.begin(), invalidated.end()),
              (std::set<std::string>{leaf.name(), mid.name(), top.name()}));
    EXPECT_NE(cache.lookup(unrelated, tt), nullptr); // precise: still hits
    EXPECT_EQ(cached_compilation(cache, top, tt, compile), 112);
    EXPECT_EQ(compiles.load(), 7);
    EXPECT_EQ(cached_compilation(cache, mid, tt, compile), 12); // recompiled along the way
    EXPECT_EQ(compiles.load(), 7);
}

TEST(CompilerCache, RegisterDependencyTracksForeignIR) {
    // The seed's foreign-IR pattern: the compiler reads the callee's source itself and only
    // records the dependency.
    Function& callee = fresh_function("foreign_callee");
    Function& caller = fresh_function("foreign_caller");
    add_method(callee, Signature{Int64()}, SumIR{5, {}});
    add_method(caller, Signature{Int64()}, SumIR{50, {&callee}});
    CompilerCache<long> cache("Foreign");
    auto compile = [](auto& ctx) {
        const SumIR& ir = ctx.mi().def().template source<SumIR>();
        long total = ir.value;
        for (Function* f : ir.callees) {
            MethodInstance* mi = ctx.method_instance(*f, ctx.mi().spec_types());
            ctx.register_dependency(*mi);
            total += mi->def().template source<SumIR>().value; // "inlined"
        }
        return total;
    };
    Type tt = tt_of<std::int64_t>();
    EXPECT_EQ(cached_compilation(cache, caller, tt, compile), 55);
    EXPECT_EQ(cache.lookup(callee, tt), nullptr); // never compiled on its own
    add_method(callee, Signature{Int64()}, SumIR{6, {}});
    EXPECT_EQ(cache.lookup(caller, tt), nullptr);
    EXPECT_EQ(cached_compilation(cache, caller, tt, compile), 56);
}

TEST(CompilerCache, CyclesInTheDependencyGraphTerminate) {
    Function& even = fresh_function("even");
    Function& odd = fresh_function("odd");
    add_method(even, Signature{Int64()}, SumIR{1, {&odd}});
    add_method(odd, Signature{Int64()}, SumIR{2, {&even}});
    CompilerCache<long> cache("Cycles");
    // Mutual recursion is compiled as one unit, with dependencies on both.
    auto compile = [](auto& ctx) {
        const SumIR& ir = ctx.mi().def().template source<SumIR>();
        for (Function* f : ir.callees) {
            ctx.register_dependency(*ctx.method_instance(*f, ctx.mi().spec_types()));
            for (Function* g : ctx.method_instance(*f, ctx.mi().spec_types())
                                   ->def()
                                   .template source<SumIR>()
                                   .callees)
                ctx.register_dependency(*ctx.method_instance(*g, ctx.mi().spec_types()));
        }
        return ir.value;
    };
    Type tt = tt_of<std::int64_t>();
    EXPECT_EQ(cached_compilation(cache, even, tt, compile), 1);
    EXPECT_EQ(cached_compilation(cache, odd, tt, compile), 2);
    add_method(odd, Signature{Int64()}, SumIR{3, {&even}});
    EXPECT_EQ(cache.lookup(even, tt), nullptr);
    EXPECT_EQ(cache.lookup(odd, tt), nullptr);
    EXPECT_EQ(cached_compilation(cache, odd, tt, compile), 3);
}

TEST(CompilerCache, CompilingARecursiveCallThroughTheCacheIsACycleError) {
    Function& f = fresh_function("self_recursive");
    add_method(f, Signature{Int64()}, SumIR{1, {&f}});
    CompilerCache<long> cache("SelfRecursive");
    auto compile = [](auto& ctx) { return compile_sum(ctx); };
    try {
        cached_compilation(cache, f, tt_of<std::int64_t>(), compile);
        FAIL() << "expected CompilationCycleError";
    } catch (const CompilationCycleError& e) {
        EXPECT_NE(std::string(e.what()).find(f.name() + "(::Int64)"), std::string::npos)
            << e.what();
    }
    EXPECT_EQ(cache.lookup(f, tt_of<std::int64_t>()), nullptr);
}

TEST(CompilerCache, InsertionInvalidatesGlobalDispatch) {
    Function& g = fresh_function("insert_global");
    Function& user = fresh_function("insert_user");
    add_method(g, Signature{Real()}, SumIR{1, {}});
    add_method(user, Signature{Int64()}, SumIR{10, {&g}});
    CompilerCache<long> cache("InsertGlobal");
    auto compile = [](auto& ctx) { return compile_sum(ctx); };
    EXPECT_EQ(cached_compilation(cache, user, tt_of<std::int64_t>(), compile), 11);
    EXPECT_EQ(cached_compilation(cache, g, tt_of<double>(), compile), 1);
    // A more specific method captures g(::Int64) but not g(::Float64).
    add_method(g, Signature{Int64()}, SumIR{2, {}});
    EXPECT_EQ(cache.lookup(user, tt_of<std::int64_t>()), nullptr);
    EXPECT_NE(cache.lookup(g, tt_of<double>()), nullptr);
    EXPECT_EQ(cached_compilation(cache, user, tt_of<std::int64_t>(), compile), 12);
    // A less specific method changes nothing.
    add_method(g, Signature{Number()}, SumIR{3, {}});
    EXPECT_NE(cache.lookup(user, tt_of<std::int64_t>()), nullptr);
    EXPECT_NE(cache.lookup(g, tt_of<double>()), nullptr);
}

TEST(CompilerCache, InsertionInvalidatesThroughOverlaysOnly) {
    Function& sin_f = fresh_function("sin");
    Function& kernel = fresh_function("kernel");
    add_method(sin_f, Signature{Float32()}, SumIR{1, {}});
    add_method(kernel, Signature{Float32()}, SumIR{100, {&sin_f}});
    MethodTable& device = fresh_overlay("device");
    CompilerCache<long> device_cache("OverlayInsert", device);
    CompilerCache<long> host_cache("HostInsert");
    auto compile = [](auto& ctx) { return compile_sum(ctx); };
    Type tt = tt_of<float>();
    EXPECT_EQ(cached_compilation(device_cache, kernel, tt, compile), 101);
    EXPECT_EQ(cached_compilation(host_cache, kernel, tt, compile), 101);
    // An overlay method shadows the global one for the device only.
    add_method(device, sin_f, Signature{Float32()}, SumIR{2, {}});
    EXPECT_EQ(device_cache.lookup(kernel, tt), nullptr);
    EXPECT_NE(host_cache.lookup(kernel, tt), nullptr);
    EXPECT_EQ(cached_compilation(device_cache, kernel, tt, compile), 102);
    EXPECT_EQ(cached_compilation(host_cache, kernel, tt, compile), 101);
    // Redefining the global one reaches the host only: the device kernel now uses the overlay.
    add_method(sin_f, Signature{Float32()}, SumIR{3, {}});
    EXPECT_EQ(host_cache.lookup(kernel, tt), nullptr);
    EXPECT_NE(device_cache.lookup(kernel, tt), nullptr);
    EXPECT_EQ(cached_compilation(host_cache, kernel, tt, compile), 103);
}

TEST(CompilerCache, CompileFailureReachesEveryWaiterAndCachesNothing) {
    Function& f = fresh_function("failing");
    add_method(f, Signature{Int64()}, SumIR{1, {}});
    CompilerCache<long> cache("Failing");
    constexpr int kThreads = 4;
    std::atomic<int> compiles{0};
    std::atomic<bool> release{false};
    auto failing = [&](auto&) -> long {
        compiles.fetch_add(1);
        while (!release.load())
            std::this_thread::yield();
        throw std::runtime_error("lowering failed: bad IR at line 3");
    };
    std::vector<std::future<std::string>> results;
    for (int i = 0; i < kThreads; ++i)
        results.push_back(std::async(std::launch::async, [&] {
            try {
                cached_compilation(cache, f, tt_of<std::int64_t>(), failing);
                return std::string("no error");
            } catch (const std::runtime_error& e) {
                return std::string(e.what());
            }
        }));
    // Every other thread waits for the one compiling before it fails.
    while (cache.stats().waiting < kThreads - 1)
        std::this_thread::yield();
    release = true;
    for (auto& r : results)
        EXPECT_EQ(r.get(), "lowering failed: bad IR at line 3");
    EXPECT_EQ(compiles.load(), 1);
    EXPECT_EQ(cache.stats().misses, std::uint64_t(kThreads));
    EXPECT_EQ(cache.stats().waits, std::uint64_t(kThreads - 1));
    EXPECT_EQ(cache.lookup(f, tt_of<std::int64_t>()), nullptr);
    // The next call compiles again.
    EXPECT_EQ(cached_compilation(cache, f, tt_of<std::int64_t>(), [](auto&) { return 9L; }), 9);
}

TEST(CompilerCache, ConcurrentMissesCompileOnce) {
    Function& f = fresh_function("single_flight");
    add_method(f, Signature{Int64()}, SumIR{3, {}});
    CompilerCache<long> cache("SingleFlight");
    constexpr int kThreads = 8;
    std::atomic<int> compiles{0};
    // The compilation finishes only once every other thread waits for it: all of them missed.
    auto blocking = [&](auto& ctx) {
        while (cache.stats().waiting < kThreads - 1)
            std::this_thread::yield();
        return compile_sum(ctx, &compiles);
    };
    std::vector<std::future<std::optional<long>>> results;
    for (int i = 0; i < kThreads; ++i)
        results.push_back(std::async(std::launch::async, [&] {
            return cached_compilation(cache, f, tt_of<std::int64_t>(), blocking);
        }));
    for (auto& r : results)
        EXPECT_EQ(r.get(), 3);
    EXPECT_EQ(compiles.load(), 1);
    const CacheStats stats = cache.stats();
    EXPECT_EQ(stats.misses, std::uint64_t(kThreads));
    EXPECT_EQ(stats.waits, std::uint64_t(kThreads - 1));
    EXPECT_EQ(stats.compilations, 1u);
    EXPECT_EQ(stats.waiting, 0u);
}

TEST(CompilerCache, RedefinitionRacingACompilationIsNeverServed) {
    Function& f = fresh_function("racing");
    add_method(f, Signature{Int64()}, SumIR{1, {}});
    CompilerCache<long> cache("Racing");
    std::atomic<int> attempts{0};
    // The first compilation reads version 1, then a redefinition lands before it commits.
    auto compile = [&](auto& ctx) {
        long v = ctx.mi().def().template source<SumIR>().value;
        if (attempts.fetch_add(1) == 0)
            std::thread([&] { add_method(f, Signature{Int64()}, SumIR{2, {}}); }).join();
        return v;
    };
    EXPECT_EQ(cached_compilation(cache, f, tt_of<std::int64_t>(), compile), 2);
    EXPECT_EQ(attempts.load(), 2);
    EXPECT_EQ(*cache.lookup(f, tt_of<std::int64_t>()), 2);
}

TEST(CompilerCache, DependencyRedefinedDuringCompilationIsNeverServed) {
    Function& callee = fresh_function("racing_callee");
    Function& caller = fresh_function("racing_caller");
    add_method(callee, Signature{Int64()}, SumIR{1, {}});
    add_method(caller, Signature{Int64()}, SumIR{10, {&callee}});
    CompilerCache<long> cache("RacingDependency");
    std::atomic<int> attempts{0};
    auto compile = [&](auto& ctx) {
        long total = compile_sum(ctx);
        if (ctx.mi().function().name() == caller.name() && attempts.fetch_add(1) == 0)
            std::thread([&] { add_method(callee, Signature{Int64()}, SumIR{2, {}}); }).join();
        return total;
    };
    EXPECT_EQ(cached_compilation(cache, caller, tt_of<std::int64_t>(), compile), 12);
}

TEST(CompilerCache, ListenersRunOutsideLocksAndCanCallBack) {
    Function& f = fresh_function("listened");
    add_method(f, Signature{Int64()}, SumIR{1, {}});
    CompilerCache<long> cache("Listened");
    auto compile = [](auto& ctx) { return compile_sum(ctx); };
    ASSERT_EQ(cached_compilation(cache, f, tt_of<std::int64_t>(), compile), 1);
    std::vector<long> seen;
    int global_calls = 0;
    Subscription sub = cache.add_invalidation_listener([&](const InvalidationEvent& ev) {
        for (const CodeInstance* ci : ev.code_instances) {
            seen.push_back(CompilerCache<long>::result_of(*ci));
            EXPECT_FALSE(ci->valid_at(ev.world));
        }
        // Calling back into kcache from a listener must not deadlock.
        EXPECT_NE(method_instance(f, tt_of<std::int64_t>()), nullptr);
        EXPECT_EQ(cached_compilation(cache, f, tt_of<std::int64_t>(), compile), 2);
    });
    Subscription global = add_invalidation_listener([&](const InvalidationEvent& ev) {
        for (const CodeInstance* ci : ev.code_instances)
            if (&ci->mi().function() == &f)
                ++global_calls;
    });
    add_method(f, Signature{Int64()}, SumIR{2, {}});
    EXPECT_EQ(seen, std::vector<long>{1});
    EXPECT_EQ(global_calls, 1);
    sub.reset();
    add_method(f, Signature{Int64()}, SumIR{3, {}});
    EXPECT_EQ(seen, std::vector<long>{1}); // unsubscribed
    EXPECT_EQ(global_calls, 2);
}

TEST(CompilerCache, DestroyedCacheLeavesNoBackedgesBehind) {
    Function& callee = fresh_function("destroyed_callee");
    Function& caller = fresh_function("destroyed_caller");
    add_method(callee, Signature{Int64()}, SumIR{1, {}});
    add_method(caller, Signature{Int64()}, SumIR{10, {&callee}});
    CompilerCache<long> survivor("Survivor");
    auto compile = [](auto& ctx) { return compile_sum(ctx); };
    {
        CompilerCache<long> shortlived("ShortLived");
        EXPECT_EQ(cached_compilation(shortlived, caller, tt_of<std::int64_t>(), compile), 11);
        EXPECT_EQ(cached_compilation(survivor, caller, tt_of<std::int64_t>(), compile), 11);
    }
    // Under ASan, touching the destroyed cache's code instances here would be reported.
    add_method(callee, Signature{Int64()}, SumIR{2, {}});
    EXPECT_EQ(survivor.stats().invalidations, 2u);
    EXPECT_EQ(cached_compilation(survivor, caller, tt_of<std::int64_t>(), compile), 12);
}

TEST(CompilerCache, ContextExposesWorldKeyAndInstance) {
    Function& f = fresh_function("context");
    Type T = Type::type_var("T", AbstractFloat());
    add_method(f, Signature({T, Ptr(T)}, {T}), SumIR{0, {}});
    CompilerCache<std::string, Key, KeyHash> cache("Context");
    auto r =
        cached_compilation(cache, f, tt_of<double, double*>(), Key{"gfx90a", 2}, [&](auto& ctx) {
            EXPECT_EQ(ctx.world(), current_world());
            return ctx.mi().sparam("T").str() + "@" + ctx.key().arch;
        });
    EXPECT_EQ(r, "Float64@gfx90a");
}

TEST(CompilerCache, CodeInstanceGivesIdentityRangeAndResultByReference) {
    Function& callee = fresh_function("ci_callee");
    Function& f = fresh_function("ci_caller");
    add_method(callee, Signature{Int64()}, SumIR{1, {}});
    add_method(f, Signature{Int64()}, SumIR{10, {&callee}});
    CompilerCache<long> cache("CodeInstances");
    auto compile = [](auto& ctx) { return compile_sum(ctx); };
    const Type tt = tt_of<std::int64_t>();
    const std::uint64_t world = current_world();
    const TypedCodeInstance<long>* ci = cached_code_instance(cache, f, tt, compile);
    ASSERT_NE(ci, nullptr);
    EXPECT_EQ(ci->result(), 11);
    EXPECT_EQ(&ci->mi(), method_instance(f, tt));
    EXPECT_LE(ci->min_world(), world);
    EXPECT_EQ(ci->max_world(), CodeInstance::kMaxWorld);
    ASSERT_EQ(ci->dependencies().size(), 1u);
    EXPECT_EQ(ci->dependencies()[0], method_instance(callee, tt));
    // A hit is the same code instance; its result is not copied.
    EXPECT_EQ(cached_code_instance(cache, f, tt, compile), ci);
    EXPECT_EQ(cache.lookup(f, tt), &ci->result());
    EXPECT_EQ(cache.lookup_code_instance(f, tt), ci);
    // Invalidated, it stays readable but is no longer served.
    add_method(callee, Signature{Int64()}, SumIR{2, {}});
    EXPECT_EQ(ci->max_world(), current_world() - 1);
    EXPECT_EQ(ci->result(), 11);
    const TypedCodeInstance<long>* again = cached_code_instance(cache, f, tt, compile);
    EXPECT_NE(again, ci);
    EXPECT_EQ(again->result(), 12);
    Function& none = fresh_function("ci_none");
    EXPECT_EQ(cached_code_instance(cache, none, tt, compile), nullptr);
}

TEST(CompilerCache, CachedCompilationByMethodInstance) {
    Function& f = fresh_function("by_mi");
    add_method(f, Signature{Integer()}, SumIR{1, {}});
    CompilerCache<long> cache("ByMethodInstance");
    std::atomic<int> compiles{0};
    auto compile = [&](auto& ctx) { return compile_sum(ctx, &compiles); };
    const Type tt = tt_of<std::int64_t>();
    MethodInstance& general = require_method_instance(f, tt);
    EXPECT_EQ(cached_compilation(cache, general, compile), 1);
    EXPECT_EQ(cached_compilation(cache, general, compile), 1);
    EXPECT_EQ(compiles.load(), 1);
    EXPECT_NE(cache.lookup_code_instance(general), nullptr);
    // By method instance and by dispatch are separate entries.
    EXPECT_EQ(cache.lookup(f, tt), nullptr);

    // A more specific method changes dispatch, not what `general` is: by dispatch gets the new
    // method; the general instance still compiles its own method.
    add_method(f, Signature{Int64()}, SumIR{2, {}});
    EXPECT_EQ(cached_compilation(cache, f, tt, compile), 2);
    EXPECT_EQ(cached_compilation(cache, general, compile), 1);

    // Redefining its method makes the instance stale: a typed error, nothing cached.
    add_method(f, Signature{Integer()}, SumIR{3, {}});
    EXPECT_EQ(cache.lookup_code_instance(general), nullptr);
    const int before = compiles.load();
    EXPECT_THROW(cached_compilation(cache, general, compile), StaleMethodInstanceError);
    EXPECT_EQ(compiles.load(), before);
    MethodInstance& fresh = require_method_instance(f, tt_of<std::int32_t>());
    EXPECT_EQ(cached_compilation(cache, fresh, compile), 3);
}

TEST(CompilerCache, MethodInstanceReplacedDuringItsCompilationIsNeverServed) {
    Function& f = fresh_function("by_mi_racing");
    add_method(f, Signature{Int64()}, SumIR{1, {}});
    CompilerCache<long> cache("ByMethodInstanceRacing");
    MethodInstance& mi = require_method_instance(f, tt_of<std::int64_t>());
    std::atomic<int> attempts{0};
    auto compile = [&](auto& ctx) {
        if (attempts.fetch_add(1) == 0)
            std::thread([&] { add_method(f, Signature{Int64()}, SumIR{2, {}}); }).join();
        return compile_sum(ctx);
    };
    EXPECT_THROW(cached_compilation(cache, mi, compile), StaleMethodInstanceError);
    EXPECT_EQ(cache.lookup_code_instance(mi), nullptr);
    EXPECT_EQ(cache.stats().stale, 1u);
}

} // namespace
} // namespace kcache
