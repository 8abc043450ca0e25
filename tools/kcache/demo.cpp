#include "demo.hpp"

#include "provenance.hpp"

#include "core/excerpt.hpp"
#include "kernels/frontends/generator/generator.hpp"
#include "kernels/library/library.hpp"
#include "runtime/device_registry.hpp"
#include "runtime/runtime.hpp"
#include "store/store.hpp"
#include "store/tiers/disk/disk_tier.hpp"
#include "store/tiers/redis/redis_tier.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <iomanip>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>
#include <ostream>

namespace kcache::cli {

using namespace runtime;

namespace {

using Clock = std::chrono::steady_clock;
using I32 = std::int32_t;

double ms_since(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

void report(const std::vector<UnusableDevice>& unusable, std::ostream& out) {
    for (const UnusableDevice& u : unusable)
        out << "unusable: " << to_string(u.kind)
            << (u.ordinal < 0 ? std::string() : ":" + std::to_string(u.ordinal)) << ": " << u.reason
            << "\n";
}

std::shared_ptr<Device> pick(const std::string& device, std::ostream& out) {
    if (device == "best") {
        std::vector<UnusableDevice> unusable;
        auto devices = enumerate_devices(&unusable);
        report(unusable, out);
        for (auto& d : devices)
            if (d->kind() != DeviceKind::host())
                return d;
        return devices.front();
    }
    const DeviceKind kind = DeviceKind::named(device);
    try {
        DeviceDiscovery found = DeviceRegistry::discover(kind);
        report(found.unusable, out);
        if (!found.devices.empty())
            return found.devices.front();
        if (found.unusable.empty())
            out << "no " << to_string(kind) << " device present\n";
    } catch (const std::exception& e) {
        out << e.what() << "\n";
    }
    return nullptr;
}

void print_store(std::ostream& out, const store::Store& store) {
    const auto s = store.stats();
    out << "store: " << s.recalls << " recalled (no IR built), " << s.content_hits
        << " found by IR hash, " << s.published << " compiled and stored\n";
    for (const auto& [name, t] : s.tiers) {
        out << "  " << std::left << std::setw(7) << name << std::right << t.hits << " hits, "
            << t.misses << " misses, " << t.bytes_read << " B read, " << t.bytes_written
            << " B written, " << t.corrupt << " corrupt, " << t.evictions << " evicted, "
            << t.lock_waits << " lock waits, " << t.errors << " errors";
        if (auto* disk = dynamic_cast<const store::DiskTier*>(store.tier(name)))
            out << "  (" << disk->options().root.string() << ")";
        if (auto* redis = dynamic_cast<const store::RedisTier*>(store.tier(name))) {
            out << ", " << t.rejected << " rejected, " << t.dropped << " uploads dropped, "
                << t.backoffs << " skipped (back-off), " << t.connect_timeouts + t.timeouts
                << " timeouts  (";
            for (std::size_t i = 0; i < redis->options().servers.size(); ++i)
                out << (i ? " " : "") << redis->options().servers[i].str();
            out << ")";
        }
        out << "\n";
    }
}

} // namespace

std::string parse_device_choice(std::string_view name) {
    if (name == "best" || DeviceRegistry::find(name))
        return std::string(name);
    throw InvalidArgumentError("unknown device '" + excerpt(name) + "'; choose best or one of " +
                               DeviceRegistry::names());
}

int run_demo(std::ostream& out, const std::string& device, bool json) {
    // With --json the text goes nowhere and each row, then a summary, is one JSON object.
    std::ostringstream discarded;
    std::ostream& text = json ? discarded : out;
    kernels::register_all();
    auto dev_ptr = pick(device, text);
    if (!dev_ptr) {
        if (json)
            out << nlohmann::json{{"summary", {{"device", nullptr}, {"error", discarded.str()}}}}
                << "\n";
        return 2;
    }
    Device& dev = *dev_ptr;
    // A cache of its own over an overlay of the global table: the redefinition below stays here.
    // Each run has its own overlay (tables are immortal: a run in the same process starts clean).
    static std::atomic<int> runs{0};
    const std::string tag = "kcache.run." + std::to_string(runs.fetch_add(1));
    MethodTable& overlay = MethodTable::create_overlay(tag);
    store::Store& store = store::process_store();
    kernels::KernelCompiler compiler(overlay, tag, &store);
    Runtime rt(compiler, {dev_ptr});
    Provenance provenance(compiler, store);
    text << "device: " << dev.name() << "  (shard key " << to_string(dev.target()) << ")\n\n";
    text << std::left << std::setw(14) << "kernel" << std::setw(26) << "problem" << std::setw(18)
         << "code from" << std::right << std::setw(12) << "first (ms)" << std::setw(12)
         << "again (ms)"
         << "  check\n";
    int failures = 0;
    const auto start = Clock::now();
    auto row = [&](const char* kernel, const std::string& problem,
                   const std::function<void()>& launch, const std::function<bool()>& check) {
        provenance.mark();
        auto t0 = Clock::now();
        launch();
        dev.synchronize();
        const double first = ms_since(t0);
        const Origin from = provenance.since_mark();
        auto t1 = Clock::now();
        launch();
        dev.synchronize();
        const double again = ms_since(t1);
        const bool ok = check();
        failures += !ok;
        if (json)
            out << nlohmann::ordered_json{{"kernel", kernel},
                                          {"problem", problem},
                                          {"code_from", from.source},
                                          {"ir_built", !from.no_ir},
                                          {"first_ms", first},
                                          {"again_ms", again},
                                          {"check", ok ? "ok" : "mismatch"}}
                << "\n";
        text << std::left << std::setw(14) << kernel << std::setw(26) << problem << std::setw(18)
             << from.str() << std::right << std::fixed << std::setprecision(3) << std::setw(12)
             << first << std::setw(12) << again << "  " << (ok ? "ok" : "MISMATCH") << "\n";
    };
    auto fn = [](const char* n) -> const Function& { return Function::named(n); };
    auto blocks = [](std::size_t n, std::uint32_t b) { return std::uint32_t((n + b - 1) / b); };

    const std::size_t n = 1 << 20;
    std::vector<float> hx(n), hy(n);
    for (std::size_t i = 0; i < n; ++i)
        hx[i] = float(i % 1000) * 0.5f, hy[i] = float(i % 7);
    DeviceBuffer<float> x(dev, hx), y(dev, hy), z(dev, n);

    row(
        "fill", "n = 2^20",
        [&] {
            rt.launch(dev, fn("fill"), {blocks(n, 256), 256}, z, 3.0f, I32(n));
        },
        [&] {
            auto v = z.to_vector();
            return std::all_of(v.begin(), v.end(), [](float f) { return f == 3.0f; });
        });
    row(
        "copy", "n = 2^20",
        [&] {
            rt.launch(dev, fn("copy"), {blocks(n, 256), 256}, z, x, I32(n));
        },
        [&] { return z.to_vector() == hx; });
    row(
        "vadd", "n = 2^20",
        [&] {
            rt.launch(dev, fn("vadd"), {blocks(n, 256), 256}, x, y, z, I32(n));
        },
        [&] {
            auto v = z.to_vector();
            for (std::size_t i = 0; i < n; ++i)
                if (v[i] != hx[i] + hy[i])
                    return false;
            return true;
        });
    DeviceBuffer<float> sy(dev, n);
    auto saxpy_row = [&](const char* label, float expect_plus) {
        row(
            label, "n = 2^20, a = 2",
            [&] {
                sy.upload(hy);
                rt.launch(dev, fn("saxpy"), {blocks(n, 256), 256}, 2.0f, x, sy, I32(n));
            },
            [&] {
                auto v = sy.to_vector();
                for (std::size_t i = 0; i < n; ++i)
                    if (std::abs(v[i] - (2.0f * hx[i] + hy[i] + expect_plus)) > 1e-3f)
                        return false;
                return true;
            });
    };
    saxpy_row("saxpy", 0.0f);
    DeviceBuffer<float> sum(dev, 1);
    row(
        "reduce_sum", "n = 2^20, 64 x 256",
        [&] {
            sum.upload(std::vector<float>{0.0f});
            rt.launch(dev, fn("reduce_sum"), {64, 256}, y, sum, I32(n));
        },
        [&] { return sum.to_vector()[0] == std::accumulate(hy.begin(), hy.end(), 0.0f); });
    const int rows = 256, cols = 512;
    std::vector<float> hs(std::size_t(rows) * cols);
    for (std::size_t i = 0; i < hs.size(); ++i)
        hs[i] = std::sin(float(i)) * 3.0f;
    DeviceBuffer<float> sin_(dev, hs), sout(dev, hs.size());
    row(
        "softmax_rows", "256 x 512",
        [&] {
            rt.launch(dev, fn("softmax_rows"), {rows, 128}, sin_, sout, I32(rows), I32(cols));
        },
        [&] {
            auto v = sout.to_vector();
            for (int r = 0; r < rows; ++r) {
                float mx = -INFINITY, s = 0;
                for (int j = 0; j < cols; ++j)
                    mx = std::max(mx, hs[r * cols + j]);
                for (int j = 0; j < cols; ++j)
                    s += std::exp(hs[r * cols + j] - mx);
                for (int j = 0; j < cols; ++j)
                    if (std::abs(v[r * cols + j] - std::exp(hs[r * cols + j] - mx) / s) > 1e-5f)
                        return false;
            }
            return true;
        });
    row(
        "transpose", "256 x 512",
        [&] {
            rt.launch(dev, fn("transpose"), {{cols / 16, rows / 16}, {16, 16}}, sin_, sout,
                      I32(rows), I32(cols));
        },
        [&] {
            auto v = sout.to_vector();
            for (int r = 0; r < rows; ++r)
                for (int c = 0; c < cols; ++c)
                    if (v[c * rows + r] != hs[r * cols + c])
                        return false;
            return true;
        });
    const int m = 128, mn = 96, k = 200;
    std::vector<float> ha(std::size_t(m) * k), hb(std::size_t(k) * mn), ref(std::size_t(m) * mn, 0);
    for (std::size_t i = 0; i < ha.size(); ++i)
        ha[i] = float((i * 7) % 11) - 5;
    for (std::size_t i = 0; i < hb.size(); ++i)
        hb[i] = float((i * 5) % 13) - 6;
    for (int r = 0; r < m; ++r)
        for (int c = 0; c < mn; ++c)
            for (int p = 0; p < k; ++p)
                ref[r * mn + c] += ha[r * k + p] * hb[p * mn + c];
    DeviceBuffer<float> da(dev, ha), db(dev, hb), dc(dev, ref.size());
    for (const char* name : {"matmul", "matmul_tiled"})
        row(
            name, "128x200 * 200x96",
            [&] {
                rt.launch(dev, fn(name), {{blocks(mn, 16), blocks(m, 16)}, {16, 16}}, da, db, dc,
                          I32(m), I32(mn), I32(k));
            },
            [&] { return dc.to_vector() == ref; });
    DeviceBuffer<float> ay(dev, n);
    row(
        "axpby_ir", "n = 2^20",
        [&] {
            ay.upload(hy);
            rt.launch(dev, fn("axpby_ir"), {blocks(n, 256), 256}, 3.0f, x, 0.5f, ay, I32(n));
        },
        [&] {
            auto v = ay.to_vector();
            for (std::size_t i = 0; i < n; ++i)
                if (std::abs(v[i] - (3.0f * hx[i] + 0.5f * hy[i])) > 1e-3f)
                    return false;
            return true;
        });

    auto s = rt.stats();
    const double library_ms = ms_since(start);
    text << "\nlibrary: " << std::fixed << std::setprecision(1) << library_ms
         << " ms from the first launch to the last check\n";
    text << "runtime: " << s.loads << " modules loaded, " << s.hits << " launch hits, " << s.misses
         << " misses; compiler: " << compiler.cache().stats().compilations << " compilations\n";
    print_store(text, store);

    text << "\nredefinition: @overlay muladd(a::Float32, b::Float32, c::Float32) = a*b + c + 1\n";
    auto t = Clock::now();
    kernels::add_generator(
        overlay, Function::named("muladd"),
        Signature({types::Float32(), types::Float32(), types::Float32()}),
        [](kernels::GenContext& g) {
            llvm::IRBuilder<> b(llvm::BasicBlock::Create(g.context(), "entry", &g.function()));
            auto* f = &g.function();
            llvm::Value* r = b.CreateFAdd(b.CreateFMul(f->getArg(0), f->getArg(1)), f->getArg(2));
            b.CreateRet(b.CreateFAdd(r, llvm::ConstantFP::get(b.getFloatTy(), 1.0)));
        },
        types::Float32());
    const auto after = rt.stats();
    text << "  invalidation + eviction: " << std::fixed << std::setprecision(3) << ms_since(t)
         << " ms; modules evicted: " << after.evictions
         << " (saxpy, matmul, matmul_tiled, axpby_ir use muladd; the others stay loaded: "
         << rt.loaded_modules(dev) << ")\n";
    saxpy_row("saxpy'", 1.0f);
    const auto end = rt.stats();
    if (json) {
        nlohmann::ordered_json tiers = nlohmann::ordered_json::object();
        const auto st = store.stats();
        for (const auto& [name, t] : st.tiers)
            tiers[name] = {{"hits", t.hits},
                           {"misses", t.misses},
                           {"bytes_read", t.bytes_read},
                           {"bytes_written", t.bytes_written},
                           {"corrupt", t.corrupt},
                           {"evictions", t.evictions}};
        out << nlohmann::ordered_json{{"summary",
                                       {{"device", dev.name()},
                                        {"shard_key", to_string(dev.target())},
                                        {"failures", failures},
                                        {"library_ms", library_ms},
                                        {"modules_loaded", end.loads},
                                        {"modules_evicted", after.evictions},
                                        {"modules_reloaded", end.loads - after.loads},
                                        {"compilations", compiler.cache().stats().compilations},
                                        {"store",
                                         {{"recalls", st.recalls},
                                          {"content_hits", st.content_hits},
                                          {"compiled", st.published},
                                          {"tiers", tiers}}}}}}
            << "\n";
    }
    text << "  reloaded: " << end.loads - after.loads << " module(s)\n";
    text << "\n"
         << (failures ? "FAILED: " + std::to_string(failures) + " mismatch(es)"
                      : "all results match the C++ references")
         << "\n";
    return failures ? 1 : 0;
}

} // namespace kcache::cli
