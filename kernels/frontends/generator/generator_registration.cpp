// The generator front end's registration (cmake/KcacheBuiltins.cmake): the factory the front-end
// registry calls on its first use.
#include "kernels/front_end.hpp"
#include "kernels/frontends/generator/generator.hpp"

namespace kcache::builtin {

std::unique_ptr<kernels::FrontEnd> front_ends_generator() {
    return kernels::make_generator_front_end();
}

} // namespace kcache::builtin
