// CacheHandle: a hit without a probe, recompilation after invalidation through the handle
// (redefinition, dependencies, a first method), errors, and one handle shared by threads while
// definitions race.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/cache_handle.hpp"
#include "core/errors.hpp"
#include "core/type_of.hpp"
#include "test_support.hpp"

namespace kcache {
namespace {

using namespace types;
using test::fresh_function;

// The result says which definitions it was compiled from: the method's value plus its callees'.
struct Versioned {
    long value;
    Function* callee = nullptr;
};

struct Counted {
    std::atomic<int> compiles{0};
    auto fn() {
        return [this](auto& ctx) -> long {
            compiles.fetch_add(1);
            const Versioned& v = ctx.mi().def().template source<Versioned>();
            return v.value + (v.callee ? ctx.compile(*v.callee, ctx.mi().spec_types()) : 0);
        };
    }
};

const Type kInt64 = tt_of<std::int64_t>();

TEST(CacheHandle, HitsWithoutCompilingAndSharesTheEntryWithCachedCompilation) {
    Function& f = fresh_function("handle_basic");
    add_method(f, Signature{Int64()}, Versioned{7});
    CompilerCache<long> cache("HandleBasic");
    Counted c;
    const auto h = cache.handle(f, kInt64);
    EXPECT_EQ(h.lookup(), nullptr); // nothing compiled yet: a handle compiles lazily
    EXPECT_EQ(c.compiles.load(), 0);

    const long* first = h.get(c.fn());
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(*first, 7);
    for (int i = 0; i < 10; ++i)
        EXPECT_EQ(h.get(c.fn()), first); // the same code instance, by address
    const auto copy = h;
    EXPECT_EQ(copy.get(c.fn()), first);
    EXPECT_EQ(cached_compilation(cache, f, kInt64, c.fn()), 7); // one entry for both
    EXPECT_EQ(c.compiles.load(), 1);
    EXPECT_EQ(h.lookup(), first);
    EXPECT_EQ(&h.function(), &f);
    EXPECT_EQ(h.types(), kInt64);
    const CacheStats s = cache.stats();
    EXPECT_EQ(s.misses, 1u);
    EXPECT_EQ(s.entries, 1u);
    EXPECT_EQ(s.hits, 13u); // 10 + copy + cached_compilation + lookup
}

TEST(CacheHandle, RedefinitionRecompilesThroughTheHandle) {
    Function& f = fresh_function("handle_redefined");
    add_method(f, Signature{Int64()}, Versioned{1});
    CompilerCache<long> cache("HandleRedefined");
    Counted c;
    const auto h = cache.handle(f, kInt64);
    EXPECT_EQ(*h.get(c.fn()), 1);
    add_method(f, Signature{Int64()}, Versioned{2});
    EXPECT_EQ(h.lookup(), nullptr); // invalidated: nothing valid to serve without compiling
    EXPECT_EQ(*h.get(c.fn()), 2);
    EXPECT_EQ(c.compiles.load(), 2);
    EXPECT_EQ(cache.stats().invalidations, 1u);
}

TEST(CacheHandle, UnrelatedDefinitionsOnlyRevalidate) {
    Function& f = fresh_function("handle_steady");
    add_method(f, Signature{Int64()}, Versioned{5});
    CompilerCache<long> cache("HandleSteady");
    Counted c;
    const auto h = cache.handle(f, kInt64);
    const long* first = h.get(c.fn());
    add_method(fresh_function("handle_unrelated"), Signature{Int64()}, Versioned{0});
    EXPECT_EQ(h.get(c.fn()), first); // the world moved: checked again, still valid
    EXPECT_EQ(c.compiles.load(), 1);
    EXPECT_EQ(cache.stats().misses, 1u);
}

TEST(CacheHandle, CalleeRedefinitionInvalidatesTheCallersHandle) {
    Function& callee = fresh_function("handle_callee");
    Function& caller = fresh_function("handle_caller");
    add_method(callee, Signature{Int64()}, Versioned{1});
    add_method(caller, Signature{Int64()}, Versioned{100, &callee});
    CompilerCache<long> cache("HandleDependency");
    Counted c;
    const auto h = cache.handle(caller, kInt64);
    EXPECT_EQ(*h.get(c.fn()), 101);
    add_method(callee, Signature{Int64()}, Versioned{2});
    EXPECT_EQ(*h.get(c.fn()), 102);
}

TEST(CacheHandle, NoMethodIsNullAndTheFirstMethodIsSeen) {
    Function& f = fresh_function("handle_no_method");
    CompilerCache<long> cache("HandleNoMethod");
    Counted c;
    const auto h = cache.handle(f, kInt64);
    EXPECT_EQ(h.get(c.fn()), nullptr);
    EXPECT_EQ(c.compiles.load(), 0);
    add_method(f, Signature{Int64()}, Versioned{3});
    ASSERT_NE(h.get(c.fn()), nullptr);
    EXPECT_EQ(*h.get(c.fn()), 3);
}

TEST(CacheHandle, BadTypesAreATypedErrorAtOnce) {
    Function& f = fresh_function("handle_abstract");
    add_method(f, Signature{Int64()}, Versioned{1});
    CompilerCache<long> cache("HandleAbstract");
    EXPECT_THROW((void)cache.handle(f, Type::tuple({Number()})), AbstractTypeError);
    EXPECT_EQ(cache.stats().entries, 0u);
}

TEST(CacheHandle, ACompileErrorReachesTheCallerAndNothingIsCached) {
    Function& f = fresh_function("handle_failing");
    add_method(f, Signature{Int64()}, Versioned{4});
    CompilerCache<long> cache("HandleFailing");
    const auto h = cache.handle(f, kInt64);
    EXPECT_THROW(h.get([](auto&) -> long { throw std::runtime_error("codegen failed"); }),
                 std::runtime_error);
    EXPECT_EQ(h.lookup(), nullptr);
    Counted c;
    EXPECT_EQ(*h.get(c.fn()), 4);
    EXPECT_EQ(c.compiles.load(), 1);
}

// Readers share one handle (and copies) while a writer redefines the callee of the kernel. A
// read that starts after a redefinition returned never sees an older definition.
TEST(CacheHandle, ConcurrentUseWhileDefinitionsRace) {
    Function& leaf = fresh_function("handle_race_leaf");
    Function& top = fresh_function("handle_race_top");
    add_method(leaf, Signature{Int64()}, Versioned{0});
    add_method(top, Signature{Int64()}, Versioned{0, &leaf});
    CompilerCache<long> cache("HandleRace");
    Counted c;
    const auto shared = cache.handle(top, kInt64);
    constexpr int kReaders = 3, kDefinitions = 50;
    std::atomic<long> published{0}; // the newest leaf value whose add_method returned
    std::atomic<bool> stop{false};
    std::atomic<long> stale{0}, reads{0};
    std::latch started(kReaders + 1);
    std::vector<std::thread> readers;
    for (int t = 0; t < kReaders; ++t)
        readers.emplace_back([&, t] {
            const auto copy = shared;
            const auto& h = t == 0 ? shared : copy;
            started.arrive_and_wait();
            while (!stop.load()) {
                const long floor = published.load();
                const long* r = h.get(c.fn());
                if (!r || *r < floor)
                    stale.fetch_add(1);
                reads.fetch_add(1);
            }
        });
    started.arrive_and_wait();
    for (long v = 1; v <= kDefinitions; ++v) {
        add_method(leaf, Signature{Int64()}, Versioned{v});
        published.store(v);
        const long before = reads.load();
        while (reads.load() < before + kReaders) // every reader gets to run meanwhile
            std::this_thread::yield();
    }
    stop = true;
    for (auto& t : readers)
        t.join();
    EXPECT_EQ(stale.load(), 0);
    EXPECT_EQ(*shared.get(c.fn()), kDefinitions);
    // Each definition was compiled at most a few times (concurrent misses share a compilation).
    EXPECT_LE(c.compiles.load(), 2 * (kDefinitions + 1) * 2);
}

} // namespace
} // namespace kcache
