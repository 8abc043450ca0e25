// NamedRegistry: names checked, duplicates refused, entries kept where they are (handles point
// at them) while other threads register and look up.
#include "core/errors.hpp"
#include "core/named_registry.hpp"

#include <gtest/gtest.h>

#include <latch>
#include <thread>

namespace kcache {
namespace {

struct Entry {
    std::string name;
    int value = 0;
};

std::unique_ptr<Entry> entry(std::string name, int value = 0) {
    return std::make_unique<Entry>(Entry{std::move(name), value});
}

TEST(NamedRegistry, ChecksNamesAndRefusesDuplicates) {
    NamedRegistry<Entry> r;
    const Entry& a = r.add(entry("alpha", 1), "widget");
    EXPECT_EQ(r.find("alpha"), &a);
    EXPECT_EQ(r.find("beta"), nullptr);
    for (const char* bad : {"", "Upper", "has space", "dot.ted"}) {
        try {
            r.add(entry(bad), "widget");
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const InvalidArgumentError& e) {
            EXPECT_NE(std::string(e.what()).find("widget name"), std::string::npos) << e.what();
        }
    }
    EXPECT_THROW(r.add(entry(std::string(33, 'a')), "widget"), InvalidArgumentError);
    EXPECT_NO_THROW(r.add(entry(std::string(32, 'a')), "widget"));
    try {
        r.add(entry("alpha", 2), "widget");
        ADD_FAILURE() << "registered alpha twice";
    } catch (const InvalidArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("widget 'alpha' is already registered"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_EQ(r.find("alpha")->value, 1);
    r.add(entry("beta_2-x"), "widget");
    EXPECT_EQ(r.names(), "alpha, " + std::string(32, 'a') + ", beta_2-x");
    ASSERT_EQ(r.all().size(), 3u);
    EXPECT_EQ(r.all().front(), &a);
}

TEST(NamedRegistry, EntriesStayPutWhileOthersRegisterAndLookUp) {
    NamedRegistry<Entry> r;
    const Entry* first = &r.add(entry("first"), "widget");
    constexpr int kPerThread = 200;
    std::latch start(2);
    auto work = [&](char tag) {
        start.arrive_and_wait();
        for (int i = 0; i < kPerThread; ++i) {
            r.add(entry(std::string(1, tag) + std::to_string(i), i), "widget");
            ASSERT_EQ(r.find("first"), first);
        }
    };
    std::thread a(work, 'a'), b(work, 'b');
    a.join();
    b.join();
    EXPECT_EQ(r.all().size(), 1u + 2 * kPerThread);
    EXPECT_EQ(r.find("b199")->value, 199);
    EXPECT_EQ(r.all().front(), first);
}

} // namespace
} // namespace kcache
