// A fixed pool of worker threads that help with parallel jobs: the host device spreads the
// blocks of a launch over it, the launching thread helping too.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace kcache::runtime::detail {

/// Work that several threads can help with at once, e.g. the blocks of one launch. Lives on the
/// stack of the thread that runs it until every helper is done with it.
class ParallelJob {
public:
    /// Does parts of the job until no part is left unclaimed. Called by the thread that runs the
    /// job and by each worker that helps, concurrently.
    virtual void help() = 0;
    /// Whether a part is left that no helper has claimed.
    virtual bool unclaimed() const = 0;

protected:
    ~ParallelJob() = default;

private:
    friend class ThreadPool;
    int active_ = 0;              // workers inside help(); guarded by the pool's mutex
    ParallelJob* link_ = nullptr; // the pool's list of jobs; guarded by the pool's mutex
};

/// Thread-safety: thread-safe; any number of threads may run jobs at once, and the workers
/// help with all of them.
class ThreadPool {
public:
    explicit ThreadPool(unsigned workers);
    /// Joins the workers; no job may be running.
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    unsigned size() const { return static_cast<unsigned>(threads_.size()); }

    /// Runs `job`, which has `parts` parts, with the calling thread's help and that of the
    /// workers it wakes (none for one part); returns once every helper is done with it.
    void run(ParallelJob& job, std::uint64_t parts);

private:
    ParallelJob* find_locked() const;
    void work();

    std::mutex mutex_;
    std::condition_variable work_cv_, done_cv_;
    ParallelJob* head_ = nullptr;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

} // namespace kcache::runtime::detail
