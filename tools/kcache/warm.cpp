#include "warm.hpp"

#include "core/errors.hpp"
#include "core/excerpt.hpp"
#include "store/keys.hpp"
#include "targets/target.hpp"
#include "targets/target_registry.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

namespace kcache::cli {

std::vector<TargetSpec> parse_warm_targets(std::span<const std::string> items,
                                           std::span<const int> opt_levels) {
    std::vector<TargetSpec> specs;
    for (const std::string& item : items) {
        const auto colon = item.find(':');
        const std::string name = item.substr(0, colon);
        const TargetKind kind = TargetRegistry::find(name);
        if (!kind)
            throw InvalidArgumentError("unknown target '" + excerpt(name) + "' (" +
                                       TargetRegistry::names() + ")");
        std::vector<std::string> archs;
        if (colon != std::string::npos)
            for (std::size_t start = colon + 1; start <= item.size();) {
                const auto comma = std::min(item.find(',', start), item.size());
                if (comma > start)
                    archs.push_back(item.substr(start, comma - start));
                start = comma + 1;
            }
        if (archs.empty())
            archs.push_back(""); // the default
        for (const std::string& arch : archs)
            for (int opt : opt_levels) {
                TargetSpec s = kind.target().resolve({kind, arch, opt});
                if (std::find(specs.begin(), specs.end(), s) == specs.end())
                    specs.push_back(s);
            }
    }
    return specs;
}

std::vector<WarmItem> warm_plan(std::span<const kernels::KernelInfo> kernels,
                                std::span<const TargetSpec> specs) {
    std::vector<WarmItem> plan;
    for (const TargetSpec& spec : specs)
        for (const kernels::KernelInfo& k : kernels)
            for (Type tt : k.examples) {
                const Function& f = Function::named(k.name);
                plan.push_back({&f, tt, spec,
                                k.name + "(" + store::arg_types_of(tt) + ") " + to_string(spec)});
            }
    return plan;
}

WarmResult warm(kernels::KernelCompiler& compiler, std::span<const WarmItem> plan, unsigned jobs,
                const std::function<void(const WarmItem&)>& done) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::string> errors(plan.size());
    std::atomic<std::size_t> next{0};
    auto work = [&] {
        for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < plan.size();) {
            try {
                compiler.compile(*plan[i].function, plan[i].tt, plan[i].spec);
            } catch (const std::exception& e) {
                errors[i] = e.what();
                if (errors[i].empty())
                    errors[i] = "failed";
            }
            if (done)
                done(plan[i]);
        }
    };
    {
        std::vector<std::jthread> workers;
        for (unsigned j = 1; j < std::max(jobs, 1u); ++j)
            workers.emplace_back(work);
        work();
    }
    WarmResult r;
    r.done = plan.size();
    for (std::size_t i = 0; i < plan.size(); ++i)
        if (!errors[i].empty())
            r.failures.push_back({plan[i].label, errors[i]});
    r.wall = std::chrono::steady_clock::now() - start;
    return r;
}

} // namespace kcache::cli
