// kcache-demo: the core model end to end, in the spirit of the seed's foreign-IR example.
// A tiny expression IR (constants, arguments, + and *, calls to other generic functions) is
// compiled through a CompilerCache into closures; the demo prints what the cache does: first
// compiles, hits, a redefinition and its three-level transitive invalidation, multiple
// dispatch, sharding by optimisation level, and an overlay method table.
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/compiler_cache.hpp"
#include "core/errors.hpp"
#include "core/type_of.hpp"

namespace {

using namespace kcache;

// --- the IR ----------------------------------------------------------------------------------
struct Expr {
    enum Kind { Const, Arg, Add, Mul, Call } kind;
    double value = 0;   // Const
    int index = 0;      // Arg
    std::string callee; // Call: a generic function's name
    std::vector<std::shared_ptr<Expr>> operands;
};
using ExprPtr = std::shared_ptr<Expr>;

ExprPtr constant(double v) {
    return std::make_shared<Expr>(Expr{Expr::Const, v});
}
ExprPtr arg(int i) {
    return std::make_shared<Expr>(Expr{Expr::Arg, 0, i});
}
ExprPtr add(ExprPtr a, ExprPtr b) {
    return std::make_shared<Expr>(Expr{Expr::Add, 0, 0, "", {a, b}});
}
ExprPtr mul(ExprPtr a, ExprPtr b) {
    return std::make_shared<Expr>(Expr{Expr::Mul, 0, 0, "", {a, b}});
}
ExprPtr call(std::string f, std::vector<ExprPtr> args) {
    return std::make_shared<Expr>(Expr{Expr::Call, 0, 0, std::move(f), std::move(args)});
}

std::string show(const Expr& e) {
    switch (e.kind) {
    case Expr::Const: {
        std::string s = std::to_string(e.value);
        s = s.substr(0, s.find_last_not_of('0') + 1);
        return s.back() == '.' ? s.substr(0, s.size() - 1) : s;
    }
    case Expr::Arg:
        return "x" + std::to_string(e.index);
    case Expr::Add:
        return "(" + show(*e.operands[0]) + " + " + show(*e.operands[1]) + ")";
    case Expr::Mul:
        return show(*e.operands[0]) + "*" + show(*e.operands[1]);
    case Expr::Call: {
        std::string s = e.callee + "(";
        for (std::size_t i = 0; i < e.operands.size(); ++i)
            s += (i ? ", " : "") + show(*e.operands[i]);
        return s + ")";
    }
    }
    return "?";
}

// --- the compiler ----------------------------------------------------------------------------
struct OptLevel {
    int level;
    bool operator==(const OptLevel&) const = default;
};
struct OptLevelHash {
    std::size_t operator()(OptLevel o) const { return static_cast<std::size_t>(o.level); }
};

using Closure = std::function<double(const double*)>;
struct Compiled {
    Closure run;
    Type result_type;
    int folded = 0; // constant subexpressions evaluated at compile time
};
using CompiledPtr = std::shared_ptr<const Compiled>;
using Cache = CompilerCache<CompiledPtr, OptLevel, OptLevelHash>;

int log_depth = 0;

struct Lowered {
    Closure run;
    Type type;
    bool is_const = false;
    double const_value = 0;
};

// Types: Int64 stays Int64 under + and *; anything with a Float64 becomes Float64.
Lowered lower(const Expr& e, Cache::Context& ctx, int& folded) {
    auto args = ctx.mi().spec_types().elements();
    switch (e.kind) {
    case Expr::Const: {
        double v = e.value;
        bool integral = v == static_cast<double>(static_cast<long long>(v));
        return {[v](const double*) { return v; }, integral ? types::Int64() : types::Float64(),
                true, v};
    }
    case Expr::Arg: {
        if (e.index >= static_cast<int>(args.size()))
            throw Error("x" + std::to_string(e.index) + " used in " + ctx.mi().str() +
                        ", which has " + std::to_string(args.size()) + " argument(s)");
        int i = e.index;
        return {[i](const double* xs) { return xs[i]; }, args[static_cast<std::size_t>(i)]};
    }
    case Expr::Add:
    case Expr::Mul: {
        Lowered a = lower(*e.operands[0], ctx, folded);
        Lowered b = lower(*e.operands[1], ctx, folded);
        Type t = a.type == types::Int64() && b.type == types::Int64() ? types::Int64()
                                                                      : types::Float64();
        const bool is_add = e.kind == Expr::Add;
        if (ctx.key().level > 0 && a.is_const && b.is_const) {
            ++folded;
            double v = is_add ? a.const_value + b.const_value : a.const_value * b.const_value;
            return {[v](const double*) { return v; }, t, true, v};
        }
        if (is_add)
            return {[a = a.run, b = b.run](const double* xs) { return a(xs) + b(xs); }, t};
        return {[a = a.run, b = b.run](const double* xs) { return a(xs) * b(xs); }, t};
    }
    case Expr::Call: {
        std::vector<Type> arg_types;
        std::vector<Closure> arg_runs;
        for (const auto& op : e.operands) {
            Lowered l = lower(*op, ctx, folded);
            arg_types.push_back(l.type);
            arg_runs.push_back(l.run);
        }
        // Dispatch on the operands' types, compile the callee through the same cache and
        // shard, and record the dependency (ctx.compile does both).
        const CompiledPtr& callee = ctx.compile(Function::named(e.callee), Type::tuple(arg_types));
        return {[callee, arg_runs](const double* xs) {
                    std::vector<double> vals;
                    for (const auto& r : arg_runs)
                        vals.push_back(r(xs));
                    return callee->run(vals.data());
                },
                callee->result_type};
    }
    }
    throw Error("bad expression");
}

CompiledPtr compile(Cache::Context& ctx) {
    const ExprPtr& body = ctx.mi().def().source<ExprPtr>();
    std::printf("  %*s[compile] %s at O%d  =  %s\n", 2 * log_depth, "", ctx.mi().str().c_str(),
                ctx.key().level, show(*body).c_str());
    ++log_depth;
    int folded = 0;
    Lowered l;
    try {
        l = lower(*body, ctx, folded);
    } catch (...) {
        --log_depth;
        throw;
    }
    --log_depth;
    if (folded)
        std::printf("  %*s[folded] %d constant expression(s) in %s\n", 2 * log_depth, "", folded,
                    ctx.mi().str().c_str());
    return std::make_shared<Compiled>(Compiled{l.run, l.type, folded});
}

// The seed's `call(f, args...)`: tt from the argument values, compile or hit, run.
template <class... Args>
double invoke(Cache& cache, const char* name, OptLevel opt, Args... args) {
    Function& f = Function::named(name);
    const Type tt = typeof_args(args...);
    auto compiled = cached_compilation(cache, f, tt, opt, compile);
    if (!compiled)
        throw_method_error(f, tt, cache.method_table());
    const double xs[] = {static_cast<double>(args)...};
    return (*compiled)->run(xs);
}

void section(const char* title) {
    std::printf("\n== %s\n", title);
}

void stats(const Cache& cache) {
    CacheStats s = cache.stats();
    std::printf("  stats[%s]: %llu hits, %llu misses, %llu compilations, %llu invalidated, "
                "%.3f ms compiling\n",
                cache.tag().c_str(), static_cast<unsigned long long>(s.hits),
                static_cast<unsigned long long>(s.misses),
                static_cast<unsigned long long>(s.compilations),
                static_cast<unsigned long long>(s.invalidations),
                static_cast<double>(s.compile_time.count()) / 1e6);
}

int run() {
    using namespace types;
    Function& square = Function::define("square");
    Function& norm2 = Function::define("norm2");
    Function& energy = Function::define("energy");
    Function& scale = Function::define("scale");

    add_method(square, Signature{Int64()}, mul(arg(0), arg(0)));
    Type T = Type::type_var("T", Real());
    add_method(norm2, Signature({T, T}, {T}),
               add(call("square", {arg(0)}), call("square", {arg(1)})));
    add_method(square, Signature{Float64()}, mul(arg(0), arg(0)));
    add_method(energy, Signature{Int64(), Int64()},
               mul(call("norm2", {arg(0), arg(1)}), add(constant(2), constant(3))));
    add_method(scale, Signature{Real()}, mul(constant(2), arg(0)));
    add_method(scale, Signature{Float64()}, mul(constant(3), arg(0)));

    Cache cache("ExprCompiler");
    Subscription listener = cache.add_invalidation_listener([](const InvalidationEvent& ev) {
        for (const CodeInstance* ci : ev.code_instances)
            std::printf("  [invalidate] %s at O%d (world %llu)\n", ci->mi().str().c_str(),
                        Cache::key_of(*ci).level, static_cast<unsigned long long>(ev.world));
    });
    const OptLevel O0{0}, O1{1};

    section("first call compiles energy, and through it norm2 and square (three levels)");
    std::printf("  energy(3, 4) = %g\n", invoke(cache, "energy", O0, 3L, 4L));
    section("second call hits");
    std::printf("  energy(3, 4) = %g\n", invoke(cache, "energy", O0, 3L, 4L));
    stats(cache);

    section("multiple dispatch: scale(::Real) and scale(::Float64)");
    std::printf("  scale(5)   = %g   (Int64 -> the Real method)\n", invoke(cache, "scale", O0, 5L));
    std::printf("  scale(5.0) = %g   (Float64 -> its own method)\n",
                invoke(cache, "scale", O0, 5.0));
    std::printf("  norm2(1.5, 2.0) = %g\n", invoke(cache, "norm2", O0, 1.5, 2.0));

    section("redefining square(::Int64) invalidates it, norm2 and energy; Float64 code stays");
    add_method(square, Signature{Int64()}, add(mul(arg(0), arg(0)), constant(1)));
    std::printf("  energy(3, 4) = %g   (recompiled)\n", invoke(cache, "energy", O0, 3L, 4L));
    std::printf("  norm2(1.5, 2.0) = %g   (still a hit)\n", invoke(cache, "norm2", O0, 1.5, 2.0));

    section("redefining scale(::Float64) recompiles only that method");
    add_method(scale, Signature{Float64()}, mul(constant(4), arg(0)));
    std::printf("  scale(5.0) = %g, scale(5) = %g\n", invoke(cache, "scale", O0, 5.0),
                invoke(cache, "scale", O0, 5L));

    section("adding a more specific method changes dispatch, and invalidates what it captures");
    add_method(scale, Signature{Int64()}, mul(constant(10), arg(0)));
    std::printf("  scale(5) = %g\n", invoke(cache, "scale", O0, 5L));

    section("sharding: O1 is a separate shard; it folds constants");
    std::printf("  energy(3, 4) at O1 = %g\n", invoke(cache, "energy", O1, 3L, 4L));
    std::printf("  energy(3, 4) at O0 = %g   (hit in its own shard)\n",
                invoke(cache, "energy", O0, 3L, 4L));
    stats(cache);

    section("overlay table: a device-only square(::Float64)");
    MethodTable& device = MethodTable::create_overlay("device");
    add_method(device, square, Signature{Float64()}, add(mul(arg(0), arg(0)), constant(0.25)));
    Cache device_cache("ExprCompiler.device", device);
    std::printf("  device norm2(1.5, 2.0) = %g   (overlay square)\n",
                invoke(device_cache, "norm2", O0, 1.5, 2.0));
    std::printf("  host   norm2(1.5, 2.0) = %g   (global square, untouched)\n",
                invoke(cache, "norm2", O0, 1.5, 2.0));
    std::printf("  device norm2(1, 2)     = %g   (no overlay for Int64: global square)\n",
                invoke(device_cache, "norm2", O0, 1L, 2L));

    section("no method: a clear error, nothing cached");
    try {
        invoke(cache, "energy", O0, 1.0, 2.0);
    } catch (const MethodError& e) {
        std::printf("  MethodError: %s\n", e.what());
    }
    stats(cache);
    stats(device_cache);
    return 0;
}

} // namespace

int main() {
    try {
        return run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kcache-demo: %s\n", e.what());
        return 1;
    }
}
