#include "runtime/drivers/host/thread_pool.hpp"

namespace kcache::runtime::detail {

ThreadPool::ThreadPool(unsigned workers) {
    for (unsigned i = 0; i < workers; ++i)
        threads_.emplace_back([this] { work(); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : threads_)
        t.join();
}

void ThreadPool::run(ParallelJob& job, std::uint64_t parts) {
    if (threads_.empty() || parts <= 1) {
        job.help();
        return;
    }
    {
        std::lock_guard lock(mutex_);
        job.link_ = head_;
        head_ = &job;
    }
    if (parts == 2)
        work_cv_.notify_one();
    else
        work_cv_.notify_all();
    job.help();
    std::unique_lock lock(mutex_);
    done_cv_.wait(lock, [&] { return job.active_ == 0; });
    for (ParallelJob** p = &head_; *p; p = &(*p)->link_)
        if (*p == &job) {
            *p = job.link_;
            break;
        }
}

ParallelJob* ThreadPool::find_locked() const {
    for (ParallelJob* j = head_; j; j = j->link_)
        if (j->unclaimed())
            return j;
    return nullptr;
}

void ThreadPool::work() {
    std::unique_lock lock(mutex_);
    for (;;) {
        ParallelJob* j = find_locked();
        if (!j) {
            if (stop_)
                return;
            work_cv_.wait(lock);
            continue;
        }
        ++j->active_;
        lock.unlock();
        j->help();
        lock.lock();
        if (--j->active_ == 0)
            done_cv_.notify_all();
    }
}

} // namespace kcache::runtime::detail
