#include "store/store.hpp"

#include "core/dispatch.hpp"
#include "core/log.hpp"
#include "kernels/digest.hpp"
#include "kernels/type_names.hpp"
#include "store/canonical_ir.hpp"
#include "store/tiers/disk/disk_tier.hpp"
#include "store/tiers/memory/memory_tier.hpp"
#include "store/tiers/redis/redis_tier.hpp"

#include <typeinfo>

namespace kcache::store {
namespace {

// The action entry a compilation would leave, or nullptr when a method it used has no source
// digest (its code could change without the entry noticing).
std::shared_ptr<const ActionEntry> action_for(const kernels::CompileInfo& info,
                                              const CompileEnv& env, const Digest& ir,
                                              std::span<const kernels::Dispatch> dispatches) {
    const Digest* source = kernels::source_digest(info.mi->def());
    if (!source)
        return nullptr;
    auto e = std::make_shared<ActionEntry>();
    e->key = ActionKey{env, *source, info.mi->function().name(),
                       arg_types_of(info.mi->spec_types()), info.table->name()};
    e->ir = ir;
    for (const kernels::Dispatch& d : dispatches) {
        const Digest* chosen = kernels::source_digest(d.chosen->def());
        if (!chosen)
            return nullptr;
        e->dispatches.push_back(DispatchRecord{d.function->name(), arg_types_of(d.tt),
                                               d.chosen->def().table().name(), *chosen});
    }
    return e;
}

} // namespace

class Store::Publish final : public kernels::ArtifactStore::Pending {
public:
    Publish(Store& store, ContentKey key, std::shared_ptr<const ActionEntry> action,
            std::vector<std::unique_ptr<CompileLock>> locks)
        : store_(store), key_(std::move(key)), action_(std::move(action)),
          locks_(std::move(locks)) {}

    ArtifactPtr publish(ArtifactPtr emitted) override {
        // Slowest tier first, so the result is the fastest tier's object; content before the
        // action entry that names it.
        ArtifactPtr result = emitted;
        try {
            for (auto it = store_.tiers_.rbegin(); it != store_.tiers_.rend(); ++it)
                result = (*it)->put(key_, result);
            store_.put_action(action_, result);
            store_.published_.fetch_add(1, std::memory_order_relaxed);
        } catch (const std::exception& e) {
            log().warn("kcache store: storing compiled code failed: {}", e.what());
        }
        return result ? result : emitted;
    }

private:
    Store& store_;
    ContentKey key_;
    std::shared_ptr<const ActionEntry> action_;
    std::vector<std::unique_ptr<CompileLock>> locks_; // released when the compilation ends
};

Store::Store(std::vector<std::unique_ptr<Tier>> tiers) : tiers_(std::move(tiers)) {}

Store::~Store() = default;

Tier* Store::tier(std::string_view name) const {
    for (const auto& t : tiers_)
        if (t->name() == name)
            return t.get();
    return nullptr;
}

ArtifactPtr Store::get_content(const ContentKey& key, std::size_t from) {
    for (std::size_t i = from; i < tiers_.size(); ++i)
        if (ArtifactPtr a = tiers_[i]->get(key))
            return copy_up(key, std::move(a), i);
    return nullptr;
}

ArtifactPtr Store::copy_up(const ContentKey& key, ArtifactPtr a, std::size_t found) {
    for (std::size_t j = found; j-- > 0;) // into the faster tiers; the fastest's object wins
        a = tiers_[j]->put(key, a);
    return a;
}

void Store::put_action(const std::shared_ptr<const ActionEntry>& entry,
                       const ArtifactPtr& content) {
    if (!entry)
        return;
    for (auto it = tiers_.rbegin(); it != tiers_.rend(); ++it)
        (*it)->put(entry, content);
}

ArtifactPtr Store::recall(const kernels::CompileInfo& info, kernels::Resolver& resolver) {
    try {
        const Digest* source = kernels::source_digest(info.mi->def());
        if (!source)
            return nullptr;
        const CompileEnv& env = compile_env(info.spec);
        const ActionKey key{env, *source, info.mi->function().name(),
                            arg_types_of(info.mi->spec_types()), info.table->name()};
        ActionHit hit;
        std::size_t found = 0;
        for (; found < tiers_.size() && !hit.entry; ++found)
            hit = tiers_[found]->get(key);
        const std::shared_ptr<const ActionEntry>& entry = hit.entry;
        if (!entry) {
            recall_misses_.fetch_add(1, std::memory_order_relaxed);
            return nullptr;
        }
        auto stale = [&](const char* why, const std::string& what) -> ArtifactPtr {
            recall_stale_.fetch_add(1, std::memory_order_relaxed);
            log().debug("kcache store: action entry of {} for {} not used: {} {}", info.mi->str(),
                        to_string(info.spec), why, what);
            return nullptr;
        };
        // Every dispatch the build made, redone as the build would do it now.
        std::vector<const MethodInstance*> chosen;
        chosen.reserve(entry->dispatches.size());
        for (const DispatchRecord& d : entry->dispatches) {
            const Function* f = Function::find(d.function);
            if (!f)
                return stale("no function", d.function);
            MethodInstance* mi = resolver.dispatch(*f, kernels::parse_type_list(d.arg_types));
            if (!mi)
                return stale("no method for", d.function + "(" + d.arg_types + ")");
            const Digest* digest = kernels::source_digest(mi->def());
            if (!digest || *digest != d.chosen_source || mi->def().table().name() != d.chosen_table)
                return stale("another method for", d.function + "(" + d.arg_types + ")");
            chosen.push_back(mi);
        }
        // A tier that keeps the content with the action (Redis: one round trip) gave it already.
        ArtifactPtr a = hit.content ? copy_up(entry->content_key(), hit.content, found - 1)
                                    : get_content(entry->content_key());
        if (!a)
            return stale("content missing:", entry->ir.hex());
        for (std::size_t i = 0; i + 1 < found; ++i)
            tiers_[i]->put(entry, a);
        for (const MethodInstance* mi : chosen)
            resolver.depend(*mi);
        recalls_.fetch_add(1, std::memory_order_relaxed);
        return a;
    } catch (const std::exception& e) {
        // Ambiguity, an unparsable record, a failing tier, or a bug: the build goes on (and says
        // what is wrong with the kernel if anything is), but the miss is not silent.
        recall_failed(*info.mi, e);
        return nullptr;
    }
}

void Store::recall_failed(const MethodInstance& mi, const std::exception& e) {
    recall_errors_.fetch_add(1, std::memory_order_relaxed);
    // The cause: the error's type and the first line of its message, without what names the
    // kernel, so that one failing tier is one warning however many kernels it fails.
    std::string_view what = e.what();
    what = what.substr(0, what.find('\n'));
    std::string cause = std::string(typeid(e).name()) + ": " + std::string(what.substr(0, 200));
    bool first;
    {
        std::lock_guard lock(noted_mutex_);
        first = noted_recall_causes_.insert(cause).second;
    }
    if (first)
        log().warn("kcache store: recalling {} failed, so it is built instead: {} (further "
                   "failures of this kind are logged at debug level and counted as "
                   "recall_errors)",
                   mi.str(), e.what());
    else
        log().debug("kcache store: recall of {} failed: {}", mi.str(), e.what());
}

kernels::ArtifactStore::Probe Store::probe(llvm::Module& prepared, const kernels::CompileInfo& info,
                                           std::span<const kernels::Dispatch> dispatches) {
    try {
        canonicalize(prepared);
        const CompileEnv& env = compile_env(info.spec);
        const ContentKey key{env, canonical_digest(prepared)};
        auto action = action_for(info, env, key.ir, dispatches);
        if (ArtifactPtr a = get_content(key)) {
            content_hits_.fetch_add(1, std::memory_order_relaxed);
            put_action(action, a);
            return {std::move(a), nullptr};
        }
        // Keep other processes from compiling it too, and look again: the one that held the
        // lock may have just published it.
        std::vector<std::unique_ptr<CompileLock>> locks;
        for (std::size_t i = 0; i < tiers_.size(); ++i) {
            auto lock = tiers_[i]->lock(key);
            if (!lock)
                continue;
            locks.push_back(std::move(lock));
            if (ArtifactPtr a = get_content(key, i)) {
                content_hits_.fetch_add(1, std::memory_order_relaxed);
                put_action(action, a);
                return {std::move(a), nullptr};
            }
        }
        return {nullptr,
                std::make_unique<Publish>(*this, key, std::move(action), std::move(locks))};
    } catch (const std::exception& e) {
        log().warn("kcache store: looking up {} failed: {}", info.mi->str(), e.what());
        return {};
    }
}

StoreStats Store::stats() const {
    StoreStats s;
    s.recalls = recalls_.load(std::memory_order_relaxed);
    s.recall_misses = recall_misses_.load(std::memory_order_relaxed);
    s.recall_stale = recall_stale_.load(std::memory_order_relaxed);
    s.recall_errors = recall_errors_.load(std::memory_order_relaxed);
    s.content_hits = content_hits_.load(std::memory_order_relaxed);
    s.published = published_.load(std::memory_order_relaxed);
    for (const auto& t : tiers_)
        s.tiers.emplace_back(std::string(t->name()), t->stats());
    return s;
}

std::vector<std::unique_ptr<Tier>> make_tiers(const StoreConfig& config) {
    std::vector<std::unique_ptr<Tier>> tiers;
    tiers.push_back(std::make_unique<MemoryTier>(config.memory_max_size));
    if (config.disk) {
        std::string why;
        if (auto disk = DiskTier::open({config.dir, config.max_size, config.lock_timeout}, why))
            tiers.push_back(std::move(disk));
        else
            log().warn("kcache store: the disk tier is off: {}", why);
    }
    if (config.redis)
        tiers.push_back(std::make_unique<RedisTier>(*config.redis));
    return tiers;
}

Store& process_store() {
    static Store store([] {
        StoreConfig config = StoreConfig::from_environment();
        for (const std::string& w : config.warnings)
            log().warn("kcache store: {}", w);
        return make_tiers(config);
    }());
    return store;
}

} // namespace kcache::store
