// The store: tiers of compiled code behind the kernel compiler's ArtifactStore seams.
//
//   kernels::KernelCompiler compiler(MethodTable::global(), "tag", &store::process_store());
//
// recall (before the build): the action entry for (entry method source, argument types, method
// table, spec, toolchain) is looked up tier by tier. Each dispatch it records is redone through
// the compilation's context — in its world, through its method table — and must choose a method
// with the recorded source digest; then the content it names must be present (a tier that keeps
// it with the action entry, Redis, returns both in one round trip). Only then are the
// chosen method instances registered as the compilation's dependencies (as the build would
// have), so the code instance has its backedges and a later redefinition invalidates it.
// Anything else (a changed callee, a missing function, an ambiguity, a missing or corrupt
// entry) is a miss and the build runs.
//
// probe (after prepare): the module is canonicalised (store/canonical_ir.hpp) and its content
// key looked up tier by tier; a hit ends the compilation. On a miss each tier that can (the
// disk, against processes on this machine; Redis, against other machines) locks the key and is
// read again under the lock; then the
// compilation goes on and publish() stores the artifact in every tier, content before action.
// A hit in a slower tier is copied into the faster ones; the memory tier hands out one Artifact
// object per content key, so identical code is shared.
//
// A method without a source digest (kernels/digest.hpp) gets no action entry, and neither does
// a kernel whose build dispatched to one; the content tiers still serve them.
//
// Thread-safety: thread-safe. Store failures are never errors: every tier degrades to "not
// stored", and the compiler compiles.
#pragma once

#include "kernels/kernel_compiler.hpp"
#include "store/config.hpp"
#include "store/tier.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace kcache::store {

struct StoreStats {
    std::uint64_t recalls = 0;       ///< compilations answered by an action entry: no IR built
    std::uint64_t recall_misses = 0; ///< no action entry for the compilation
    std::uint64_t recall_stale = 0;  ///< an action entry that no longer holds: rebuilt
    /// a recall that failed with an error (a failing tier, an unreadable record, a bug): the
    /// kernel is built instead; each cause is logged as a warning once
    std::uint64_t recall_errors = 0;
    std::uint64_t content_hits = 0; ///< compilations ended at the probe by stored code
    std::uint64_t published = 0;    ///< compiled artifacts stored
    std::vector<std::pair<std::string, TierStats>> tiers; ///< fastest first
};

class Store final : public kernels::ArtifactStore {
public:
    /// `tiers` fastest first (make_tiers builds the configured ones).
    explicit Store(std::vector<std::unique_ptr<Tier>> tiers);
    ~Store() override;

    kernels::ArtifactPtr recall(const kernels::CompileInfo& info,
                                kernels::Resolver& resolver) override;
    Probe probe(llvm::Module& prepared, const kernels::CompileInfo& info,
                std::span<const kernels::Dispatch> dispatches) override;

    StoreStats stats() const;
    std::span<const std::unique_ptr<Tier>> tiers() const { return tiers_; }
    /// The tier called `name`, or nullptr.
    Tier* tier(std::string_view name) const;

private:
    class Publish;
    ArtifactPtr get_content(const ContentKey& key, std::size_t from = 0);
    /// `a`, found in tier `found`, stored in the faster tiers; the fastest's object.
    ArtifactPtr copy_up(const ContentKey& key, ArtifactPtr a, std::size_t found);
    void put_action(const std::shared_ptr<const ActionEntry>& entry, const ArtifactPtr& content);

    /// Counts a recall that failed with `e`; warns once per cause, then logs at debug level.
    void recall_failed(const MethodInstance& mi, const std::exception& e);

    std::vector<std::unique_ptr<Tier>> tiers_;
    std::atomic<std::uint64_t> recalls_{0}, recall_misses_{0}, recall_stale_{0}, recall_errors_{0},
        content_hits_{0}, published_{0};
    std::mutex noted_mutex_;
    std::set<std::string, std::less<>> noted_recall_causes_;
};

/// The tiers `config` asks for, fastest first: memory; then the disk when it is on and its
/// directory is accepted (otherwise one warning says why it is off); then Redis when
/// KCACHE_REDIS named servers. New tiers register here.
std::vector<std::unique_ptr<Tier>> make_tiers(const StoreConfig& config);

/// The process's store, configured from the environment (StoreConfig::from_environment) the
/// first time it is asked for; what kcache's runtime demo and command line compile through.
Store& process_store();

} // namespace kcache::store
