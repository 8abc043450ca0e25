// Typed device memory. DeviceBuffer<T> owns `size()` elements on one device (RAII release);
// DevicePtr<T> is a non-owning typed device address. Both pass to kernels as Ptr{T} (global).
// Thread-safety: a DeviceBuffer is not synchronised; share it read-only or guard it. Copies
// complete before returning.
#pragma once

#include "core/type_of.hpp"
#include "runtime/device.hpp"

#include <cstddef>
#include <span>
#include <utility>
#include <vector>

namespace kcache::runtime {

template <class T>
struct DevicePtr {
    T* ptr = nullptr; ///< a device address (host device: ordinary memory)
    Device* device = nullptr;
};

template <class T>
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    DeviceBuffer(Device& d, std::size_t n)
        : device_(&d), ptr_(static_cast<T*>(d.allocate(n * sizeof(T)))), size_(n) {}
    /// Allocates and copies `init` in.
    DeviceBuffer(Device& d, std::span<const T> init) : DeviceBuffer(d, init.size()) {
        upload(init);
    }
    DeviceBuffer(Device& d, const std::vector<T>& init)
        : DeviceBuffer(d, std::span<const T>(init)) {}
    DeviceBuffer(DeviceBuffer&& o) noexcept
        : device_(std::exchange(o.device_, nullptr)), ptr_(std::exchange(o.ptr_, nullptr)),
          size_(std::exchange(o.size_, 0)) {}
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
        if (this != &o) {
            reset();
            device_ = std::exchange(o.device_, nullptr);
            ptr_ = std::exchange(o.ptr_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer() { reset(); }

    void reset() noexcept {
        if (ptr_)
            device_->free(ptr_);
        ptr_ = nullptr;
        size_ = 0;
    }

    /// Host → device: the first src.size() elements (at most size()).
    void upload(std::span<const T> src, Stream* stream = nullptr) {
        check(src.size());
        device_->copy_to_device(ptr_, src.data(), src.size() * sizeof(T), stream);
    }
    /// Device → host: the first dst.size() elements.
    void download(std::span<T> dst, Stream* stream = nullptr) const {
        check(dst.size());
        device_->copy_to_host(dst.data(), ptr_, dst.size() * sizeof(T), stream);
    }
    std::vector<T> to_vector() const {
        std::vector<T> v(size_);
        download(std::span<T>(v));
        return v;
    }
    /// Device → device from another buffer of the same device.
    void copy_from(const DeviceBuffer& src, Stream* stream = nullptr) {
        check(src.size());
        device_->copy_on_device(ptr_, src.ptr_, src.size() * sizeof(T), stream);
    }

    T* data() const { return ptr_; }
    std::size_t size() const { return size_; }
    std::size_t bytes() const { return size_ * sizeof(T); }
    Device* device() const { return device_; }
    DevicePtr<T> ptr() const { return {ptr_, device_}; }

private:
    void check(std::size_t n) const {
        if (n > size_)
            throw InvalidArgumentError("DeviceBuffer: copy of " + std::to_string(n) +
                                       " elements into/out of a buffer of " +
                                       std::to_string(size_));
    }
    Device* device_ = nullptr;
    T* ptr_ = nullptr;
    std::size_t size_ = 0;
};

} // namespace kcache::runtime

namespace kcache {
template <class T>
struct TypeOf<runtime::DeviceBuffer<T>> {
    static Type get() { return Type::pointer(type_of<T>()); }
};
template <class T>
struct TypeOf<runtime::DevicePtr<T>> {
    static Type get() { return Type::pointer(type_of<T>()); }
};
} // namespace kcache
