// The ir front end's registration (cmake/KcacheBuiltins.cmake): the factory the front-end
// registry calls on its first use.
#include "kernels/front_end.hpp"
#include "kernels/frontends/ir/ir_method.hpp"

namespace kcache::builtin {

std::unique_ptr<kernels::FrontEnd> front_ends_ir() {
    return kernels::make_ir_front_end();
}

} // namespace kcache::builtin
