// A non-owning reference to a callable (C++26's std::function_ref, reduced to what kcache needs):
// no allocation, one indirect call. Refers to a callable object or to a function.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

namespace kcache {

template <class Signature>
class FunctionRef;

template <class R, class... Args>
class FunctionRef<R(Args...)> {
public:
    template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> &&
             std::is_invocable_r_v<R, F&, Args...>) FunctionRef(F&& f)
    noexcept { // NOLINT: implicit by design, like std::function_ref
        using T = std::remove_reference_t<F>;
        if constexpr (std::is_function_v<T> || std::is_pointer_v<std::remove_cv_t<T>>) {
            auto* fn = static_cast<std::add_pointer_t<std::remove_pointer_t<std::decay_t<F>>>>(f);
            storage_.function = reinterpret_cast<void (*)()>(fn);
            call_ = [](Storage s, Args... args) -> R {
                return reinterpret_cast<decltype(fn)>(s.function)(std::forward<Args>(args)...);
            };
        } else {
            storage_.object = const_cast<void*>(static_cast<const void*>(std::addressof(f)));
            call_ = [](Storage s, Args... args) -> R {
                return (*static_cast<T*>(s.object))(std::forward<Args>(args)...);
            };
        }
    }

    R operator()(Args... args) const { return call_(storage_, std::forward<Args>(args)...); }

private:
    union Storage {
        void* object;
        void (*function)();
    };
    Storage storage_{};
    R (*call_)(Storage, Args...);
};

} // namespace kcache
