// The doctest main shared by every test executable. Two things a run must
// not hide: a test case that stopped early (shared_data::skip) is reported
// as skipped, and a run whose filters match no test case fails (ctest runs
// one case per process by name: a name ctest cannot pass intact, such as
// one with a ';', would otherwise run nothing and pass).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>
#include <ostream>

#include "shared_data.hpp"

namespace {

// Test cases the last run selected; -1 when no run happened (a query such
// as --list-test-cases).
int g_selected = -1;

// At the end of each test case: a pending skip becomes the marker line ctest
// matches, but only when nothing failed (a failure must stay a failure). At
// the end of a run: how many test cases the filters selected.
struct skip_listener : doctest::IReporter {
  std::ostream& out;
  explicit skip_listener(const doctest::ContextOptions& o) : out(*o.cout) {}

  void test_case_end(const doctest::CurrentTestCaseStats& st) override {
    std::string& reason = shared_data::pending_skip();
    if (!reason.empty() && st.failure_flags == 0 && st.numAssertsFailedCurrentTest == 0)
      out << shared_data::skip_marker << reason << std::endl;
    reason.clear();
  }

  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& st) override {
    g_selected = static_cast<int>(st.numTestCasesPassingFilters);
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

REGISTER_LISTENER("shiftrope_skip", 1, skip_listener);

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (context.shouldExit() || result != 0) return result;
  if (g_selected == 0) {
    std::cerr << "no test case matches the filters\n";
    return 1;
  }
  return 0;
}
