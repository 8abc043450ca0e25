// A bounded write-behind queue: work handed to one background thread, in order, so that a
// compilation never waits for a slow or absent server to take its upload.
//
//   WriteBehind<Upload> queue(64 << 20, [](std::vector<Upload>& batch) { /* send them */ });
//   if (!queue.push(upload, upload_bytes)) { /* full: dropped, counted by the caller */ }
//
// The drain function gets everything queued since its last call, oldest first, and runs on
// the queue's thread only. Items are accounted by the bytes the caller says they hold; past the
// bound a push is refused (an item pushed with `bounded` false is always taken: small
// bookkeeping that must not be lost, such as releasing a lock). flush() waits until everything
// pushed before it has been drained; the destructor drains what is left and joins the thread.
// The thread is started by the first push: a queue never used costs nothing.
//
// Thread-safety: push and flush are thread-safe; the drain function runs on one thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace kcache::store {

template <class Item>
class WriteBehind {
public:
    using Drain = std::function<void(std::vector<Item>&)>;

    WriteBehind(std::uint64_t max_bytes, Drain drain)
        : max_bytes_(max_bytes), drain_(std::move(drain)) {}

    ~WriteBehind() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_one();
        if (thread_.joinable())
            thread_.join();
    }
    WriteBehind(const WriteBehind&) = delete;
    WriteBehind& operator=(const WriteBehind&) = delete;

    /// Queues `item`, which holds `bytes`; false (the item dropped) when that would pass the
    /// bound and `bounded` is true.
    bool push(Item item, std::uint64_t bytes, bool bounded = true) {
        {
            std::lock_guard lock(mutex_);
            if (bounded && (bytes > max_bytes_ || queued_bytes_ > max_bytes_ - bytes))
                return false;
            queue_.emplace_back(std::move(item), bytes);
            queued_bytes_ += bytes;
            ++pushed_;
            if (!thread_.joinable())
                thread_ = std::thread([this] { run(); });
        }
        wake_.notify_one();
        return true;
    }

    /// Waits until every item pushed before this call has been drained.
    void flush() {
        std::unique_lock lock(mutex_);
        const std::uint64_t target = pushed_;
        done_.wait(lock, [&] { return drained_ >= target; });
    }

    std::uint64_t queued_bytes() const {
        std::lock_guard lock(mutex_);
        return queued_bytes_;
    }

private:
    void run() {
        std::vector<std::pair<Item, std::uint64_t>> taken;
        std::vector<Item> batch;
        std::unique_lock lock(mutex_);
        for (;;) {
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty())
                return; // stopping, and everything drained
            taken.swap(queue_);
            lock.unlock();
            batch.clear();
            std::uint64_t bytes = 0;
            for (auto& [item, size] : taken) {
                batch.push_back(std::move(item));
                bytes += size;
            }
            try {
                drain_(batch);
            } catch (...) {
                // The drain counts and logs its own failures; this only keeps the thread alive.
            }
            batch.clear(); // the items' resources go before the queue says they are done
            lock.lock();
            queued_bytes_ -= bytes;
            drained_ += taken.size();
            taken.clear();
            done_.notify_all();
        }
    }

    const std::uint64_t max_bytes_;
    const Drain drain_;
    mutable std::mutex mutex_;
    std::condition_variable wake_, done_;
    std::vector<std::pair<Item, std::uint64_t>> queue_;
    std::uint64_t queued_bytes_ = 0;
    std::uint64_t pushed_ = 0, drained_ = 0;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace kcache::store
