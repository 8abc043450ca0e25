// Validity ranges: a compilation that dispatches a callee after a definition changed that
// callee's dispatch must never be served. Each test runs the definition at a fixed point inside
// the compile function (from another thread, joined there), so the interleaving is exact.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include "core/compiler_cache.hpp"
#include "core/errors.hpp"
#include "core/type_of.hpp"
#include "test_support.hpp"

namespace kcache {
namespace {

using namespace types;
using test::fresh_function;
using test::fresh_overlay;

// A caller whose compiled value is its own constant plus the value of the callee method its
// dispatch chose. Sources are plain longs.
struct Caller {
    long value;
    Function* callee;
};

// Runs `definition` on another thread the first time `point` is reached.
class OnceFromAnotherThread {
public:
    explicit OnceFromAnotherThread(std::function<void()> definition)
        : definition_(std::move(definition)) {}
    void point() {
        if (!done_.exchange(true))
            std::thread(definition_).join();
    }
    bool done() const { return done_.load(); }

private:
    std::function<void()> definition_;
    std::atomic<bool> done_{false};
};

enum class Via { MethodInstance, Compile };

// Compiles `caller` (whose source is Caller) and returns caller.value + callee's value. The
// definition runs after the compilation began and before the callee is dispatched.
template <class Cache>
std::optional<long> compile_racing(Cache& cache, Function& caller, OnceFromAnotherThread& race,
                                   Via via, std::atomic<int>& attempts) {
    const Type tt = tt_of<std::int64_t>();
    return cached_compilation(cache, caller, tt, [&](auto& ctx) -> long {
        attempts.fetch_add(1);
        if (ctx.mi().function().name() != caller.name()) // the callee, through ctx.compile
            return ctx.mi().def().template source<long>();
        const Caller& src = ctx.mi().def().template source<Caller>();
        race.point();
        if (via == Via::Compile)
            return src.value + ctx.compile(*src.callee, ctx.mi().spec_types());
        MethodInstance* callee = ctx.method_instance(*src.callee, ctx.mi().spec_types());
        if (!callee)
            throw std::runtime_error("no callee method");
        ctx.register_dependency(*callee);
        return src.value + callee->def().template source<long>();
    });
}

class WorldRange : public ::testing::TestWithParam<Via> {};

TEST_P(WorldRange, CalleeRedefinedBeforeItsFirstDispatch) {
    Function& callee = fresh_function("range_redef_callee");
    Function& caller = fresh_function("range_redef_caller");
    add_method(callee, Signature{Int64()}, 1L);
    add_method(caller, Signature{Int64()}, Caller{100, &callee});
    CompilerCache<long> cache("RangeRedefinition");
    OnceFromAnotherThread race([&] { add_method(callee, Signature{Int64()}, 2L); });
    std::atomic<int> attempts{0};

    EXPECT_EQ(compile_racing(cache, caller, race, GetParam(), attempts), 102);
    EXPECT_TRUE(race.done());
    // Through ctx.method_instance the first result is discarded and the caller compiled again;
    // ctx.compile compiles the callee in the current world, so the first result holds.
    EXPECT_EQ(cache.stats().stale, GetParam() == Via::MethodInstance ? 1u : 0u);
    // Served as a hit afterwards, still the new definition.
    EXPECT_EQ(*cache.lookup(caller, tt_of<std::int64_t>()), 102);
}

TEST_P(WorldRange, MoreSpecificCalleeInsertedBeforeItsFirstDispatch) {
    Function& callee = fresh_function("range_insert_callee");
    Function& caller = fresh_function("range_insert_caller");
    add_method(callee, Signature{Integer()}, 1L);
    add_method(caller, Signature{Int64()}, Caller{100, &callee});
    CompilerCache<long> cache("RangeInsertion");
    OnceFromAnotherThread race([&] { add_method(callee, Signature{Int64()}, 2L); });
    std::atomic<int> attempts{0};

    EXPECT_EQ(compile_racing(cache, caller, race, GetParam(), attempts), 102);
    EXPECT_EQ(*cache.lookup(caller, tt_of<std::int64_t>()), 102);
}

TEST_P(WorldRange, OverlayShadowsCalleeBeforeItsFirstDispatch) {
    Function& callee = fresh_function("range_overlay_callee");
    Function& caller = fresh_function("range_overlay_caller");
    MethodTable& overlay = fresh_overlay("range_overlay");
    add_method(callee, Signature{Int64()}, 1L);
    add_method(caller, Signature{Int64()}, Caller{100, &callee});
    CompilerCache<long> cache("RangeOverlay", overlay);
    OnceFromAnotherThread race([&] { add_method(overlay, callee, Signature{Int64()}, 2L); });
    std::atomic<int> attempts{0};

    EXPECT_EQ(compile_racing(cache, caller, race, GetParam(), attempts), 102);
    EXPECT_EQ(*cache.lookup(caller, tt_of<std::int64_t>()), 102);
}

TEST_P(WorldRange, UnrelatedDefinitionDoesNotForceARetry) {
    Function& callee = fresh_function("range_unrelated_callee");
    Function& caller = fresh_function("range_unrelated_caller");
    Function& other = fresh_function("range_unrelated_other");
    add_method(callee, Signature{Int64()}, 1L);
    add_method(caller, Signature{Int64()}, Caller{100, &callee});
    CompilerCache<long> cache("RangeUnrelated");
    // Another function, and a method of the callee for other types: neither changes the answer.
    OnceFromAnotherThread race([&] {
        add_method(other, Signature{Int64()}, 5L);
        add_method(callee, Signature{Float32()}, 7L);
    });
    std::atomic<int> attempts{0};

    EXPECT_EQ(compile_racing(cache, caller, race, GetParam(), attempts), 101);
    // Caller once (plus the callee once through ctx.compile): nothing compiled again.
    EXPECT_EQ(attempts.load(), GetParam() == Via::Compile ? 2 : 1);
}

INSTANTIATE_TEST_SUITE_P(Via, WorldRange, ::testing::Values(Via::MethodInstance, Via::Compile),
                         [](const auto& info) {
                             return info.param == Via::MethodInstance ? "MethodInstance"
                                                                      : "Compile";
                         });

TEST(WorldRangeLookup, RangesFollowDefinitions) {
    Function& f = fresh_function("range_lookup");
    const Type tt = tt_of<std::int64_t>();
    const std::uint64_t before = current_world();
    MethodLookup none = lookup_method(f, tt);
    EXPECT_EQ(none.mi, nullptr);
    EXPECT_EQ(none.max_world, CodeInstance::kMaxWorld);

    Method& general = add_method(f, Signature{Integer()}, 1L);
    const std::uint64_t w1 = current_world();
    add_method(f, Signature{Float32()}, 9L); // does not apply to Int64: no bound
    Method& specific = add_method(f, Signature{Int64()}, 2L);
    const std::uint64_t w3 = current_world();

    // "No method" held until the general method came.
    MethodLookup old_none = lookup_method(f, tt, MethodTable::global(), before);
    EXPECT_EQ(old_none.mi, nullptr);
    EXPECT_EQ(old_none.max_world, w1 - 1);

    // The general method answered from its definition until the specific one shadowed it.
    MethodLookup old = lookup_method(f, tt, MethodTable::global(), w1);
    ASSERT_NE(old.mi, nullptr);
    EXPECT_EQ(&old.mi->def(), &general);
    EXPECT_EQ(old.min_world, w1);
    EXPECT_EQ(old.max_world, w3 - 1);
    EXPECT_TRUE(old.valid_at(w3 - 1));
    EXPECT_FALSE(old.valid_at(w3));

    // The current answer is open-ended.
    MethodLookup now = lookup_method(f, tt);
    ASSERT_NE(now.mi, nullptr);
    EXPECT_EQ(&now.mi->def(), &specific);
    EXPECT_EQ(now.min_world, w3);
    EXPECT_EQ(now.max_world, CodeInstance::kMaxWorld);

    // Redefinition closes it.
    add_method(f, Signature{Int64()}, 3L);
    MethodLookup replaced = lookup_method(f, tt, MethodTable::global(), w3);
    EXPECT_EQ(&replaced.mi->def(), &specific);
    EXPECT_EQ(replaced.max_world, current_world() - 1);
}

TEST(WorldRangeLookup, OverlayRangesCoverTheParentTable) {
    Function& f = fresh_function("range_overlay_lookup");
    MethodTable& overlay = fresh_overlay("range_overlay_lookup");
    const Type tt = tt_of<std::int64_t>();
    add_method(f, Signature{Int64()}, 1L);
    const std::uint64_t w1 = current_world();
    add_method(overlay, f, Signature{Int64()}, 2L);
    const std::uint64_t w2 = current_world();
    MethodLookup through_overlay = lookup_method(f, tt, overlay, w1);
    EXPECT_EQ(through_overlay.mi->def().source<long>(), 1);
    EXPECT_EQ(through_overlay.max_world, w2 - 1);
    // The global table does not see the overlay: its answer still holds.
    MethodLookup global = lookup_method(f, tt, MethodTable::global(), w1);
    EXPECT_EQ(global.max_world, CodeInstance::kMaxWorld);
}

// A compilation that found no method for a callee is invalidated when one is defined.
TEST(WorldRangeLookup, NoMethodLookupIsAnEdge) {
    Function& callee = fresh_function("range_missing_callee");
    Function& caller = fresh_function("range_missing_caller");
    add_method(caller, Signature{Int64()}, 100L);
    CompilerCache<long> cache("RangeMissing");
    const Type tt = tt_of<std::int64_t>();
    auto compile = [&](auto& ctx) -> long {
        const long own = ctx.mi().def().template source<long>();
        MethodInstance* mi = ctx.method_instance(callee, tt);
        return own + (mi ? mi->def().template source<long>() : 0);
    };
    EXPECT_EQ(cached_compilation(cache, caller, tt, compile), 100);
    EXPECT_NE(cache.lookup(caller, tt), nullptr);
    add_method(callee, Signature{Float32()}, 7L); // does not apply
    EXPECT_NE(cache.lookup(caller, tt), nullptr);
    add_method(callee, Signature{Integer()}, 5L); // applies now
    EXPECT_EQ(cache.lookup(caller, tt), nullptr);
    EXPECT_EQ(cached_compilation(cache, caller, tt, compile), 105);
}

// A lookup through the context is an edge even without register_dependency.
TEST(WorldRangeLookup, ContextLookupIsAnEdge) {
    Function& callee = fresh_function("range_edge_callee");
    Function& caller = fresh_function("range_edge_caller");
    add_method(callee, Signature{Int64()}, 1L);
    add_method(caller, Signature{Int64()}, 100L);
    CompilerCache<long> cache("RangeEdge");
    const Type tt = tt_of<std::int64_t>();
    auto compile = [&](auto& ctx) -> long {
        MethodInstance* mi = ctx.method_instance(callee, tt);
        return ctx.mi().def().template source<long>() + mi->def().template source<long>();
    };
    EXPECT_EQ(cached_compilation(cache, caller, tt, compile), 101);
    add_method(callee, Signature{Int64()}, 2L);
    EXPECT_EQ(cached_compilation(cache, caller, tt, compile), 102);
}

} // namespace
} // namespace kcache
