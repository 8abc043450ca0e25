// A device for tests that wraps another and checks what the Runtime promises, on every launch
// and every unload: no launch starts on a module that is not loaded, and no module is unloaded
// while a launch of it is in flight (between Device::launch and its Completion).
#pragma once

#include "runtime/device.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace kcache::test {

class TrackingDevice final : public runtime::Device {
public:
    explicit TrackingDevice(std::shared_ptr<runtime::Device> inner) : inner_(std::move(inner)) {}

    /// Launches of modules not loaded, plus unloads of modules with launches in flight.
    int violations() const { return violations_.load(); }
    std::uint64_t launches() const { return launches_.load(); }

    runtime::DeviceKind kind() const override { return inner_->kind(); }
    const std::string& name() const override { return inner_->name(); }
    const TargetSpec& target() const override { return inner_->target(); }
    void* allocate(std::size_t bytes) override { return inner_->allocate(bytes); }
    void free(void* p) noexcept override { inner_->free(p); }
    void copy_to_device(void* dst, const void* src, std::size_t n, runtime::Stream*) override {
        inner_->copy_to_device(dst, src, n, nullptr);
    }
    void copy_to_host(void* dst, const void* src, std::size_t n, runtime::Stream*) override {
        inner_->copy_to_host(dst, src, n, nullptr);
    }
    void copy_on_device(void* dst, const void* src, std::size_t n, runtime::Stream*) override {
        inner_->copy_on_device(dst, src, n, nullptr);
    }
    std::unique_ptr<runtime::Stream> create_stream() override {
        return std::make_unique<Stream>(*this);
    }
    void synchronize() override { inner_->synchronize(); }

    std::unique_ptr<runtime::Module> load(const Artifact& a) override {
        auto m = std::make_unique<Module>(*this, inner_->load(a));
        std::lock_guard lock(mutex_);
        live_.insert(m.get());
        return m;
    }

    void launch(const runtime::Module& module, const runtime::LaunchConfig& config,
                const runtime::KernelArgs& args, runtime::Completion done) override {
        {
            std::lock_guard lock(mutex_);
            if (!live_.count(&module)) {
                violations_.fetch_add(1);
                return; // never run code that is gone
            }
            ++in_flight_[&module];
        }
        launches_.fetch_add(1);
        Finish finish{this, &module, done};
        const auto& m = static_cast<const Module&>(module);
        try {
            inner_->launch(*m.inner, config, args, {&Finish::call, &finish});
        } catch (...) {
            finish.end(false); // not launched: the caller releases what it holds itself
            throw;
        }
    }

private:
    class Stream final : public runtime::Stream {
    public:
        explicit Stream(runtime::Device& d) : runtime::Stream(d) {}
        void synchronize() override { device().synchronize(); }
    };

    class Module final : public runtime::Module {
    public:
        Module(TrackingDevice& d, std::unique_ptr<runtime::Module> m)
            : runtime::Module(d, m->kernel_name()), inner(std::move(m)), device_(d) {
            function_ = inner->function();
            static_shared_bytes_ = inner->static_shared_bytes();
        }
        ~Module() override {
            std::lock_guard lock(device_.mutex_);
            if (device_.in_flight_[this] != 0)
                device_.violations_.fetch_add(1);
            device_.in_flight_.erase(this);
            device_.live_.erase(this);
        }
        std::unique_ptr<runtime::Module> inner;

    private:
        TrackingDevice& device_;
    };

    // The launch's end as the inner device reports it, then the caller's completion.
    struct Finish {
        TrackingDevice* device;
        const runtime::Module* module;
        runtime::Completion done;
        bool ended = false;
        void end(bool complete = true) {
            if (ended)
                return;
            ended = true;
            {
                std::lock_guard lock(device->mutex_);
                --device->in_flight_[module];
            }
            if (complete && done.fn)
                done.fn(done.data);
        }
        static void call(void* p) noexcept { static_cast<Finish*>(p)->end(); }
    };

    std::shared_ptr<runtime::Device> inner_;
    std::mutex mutex_;
    std::set<const runtime::Module*> live_;
    std::map<const runtime::Module*, int> in_flight_;
    std::atomic<int> violations_{0};
    std::atomic<std::uint64_t> launches_{0};
};

} // namespace kcache::test
