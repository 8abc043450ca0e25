// A test-only front end: the demo's little expression language (tools/demo) as kernel source.
// An expression of constants, arguments, + and *, and calls of generic functions (dispatched on
// the operands' types like any other call, so it calls methods of every front end and is
// invalidated with them). Nothing in kernels/ names it: it is registered from the test program.
//
//   function  f(x1::T, ..., xn::T)::T = body   T the float type of the arguments
//   kernel    k(out::Ptr{T}, a1, ..., am, n::Int32): out[i] = body for each global index i < n,
//             where arg(j) is parameter j: an element a_j[i] for a pointer, the value for a
//             scalar (an integer one converted to T)
#pragma once

#include "core/method_table.hpp"
#include "core/signature.hpp"
#include "kernels/digest.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kcache::kernels {
class FrontEnd;
}

namespace kcache::test::expr {

struct Node;
using Expr = std::shared_ptr<const Node>;

struct Node {
    enum Kind { Const, Arg, Add, Mul, Call } kind;
    double value = 0;   // Const
    int index = 0;      // Arg: the parameter's position
    std::string callee; // Call: a generic function's name
    std::vector<Expr> operands;
};

Expr constant(double v);
Expr arg(int index);
Expr operator+(Expr a, Expr b);
Expr operator*(Expr a, Expr b);
Expr call(std::string function, std::vector<Expr> operands);
/// "(x1*3 + 1)": what the digest covers.
std::string show(const Expr& e);

/// The source of an expression method. Thread-safety: immutable once added.
struct ExprSource {
    Expr body;
    bool kernel = false;
    /// Set when added: covers the function, signature, shape and the printed body.
    std::optional<kernels::Digest> digest;
};

/// Adds `f(sig) = body` (a function, or an element-wise kernel) to `table`, with its digest.
Method& add_function(MethodTable& table, Function& f, Signature sig, Expr body);
Method& add_kernel(MethodTable& table, Function& f, Signature sig, Expr body);

std::unique_ptr<kernels::FrontEnd> make_front_end();
/// Registers the front end with kernels::FrontEndRegistry, once.
void register_front_end();

} // namespace kcache::test::expr
