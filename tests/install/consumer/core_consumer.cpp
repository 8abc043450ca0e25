#include "core/compiler_cache.hpp"
#include "core/type_of.hpp"

int main() {
    using namespace kcache;
    Function& f = Function::define("consumer_f");
    add_method(f, Signature{types::Int32()}, 41);
    CompilerCache<int> cache("Consumer");
    auto r = cached_compilation(cache, f, tt_of<int>(), [](auto& ctx) {
        return ctx.mi().def().template source<int>() + 1;
    });
    return r == 42 ? 0 : 1;
}
