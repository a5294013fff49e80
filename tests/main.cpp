// The doctest main shared by every test executable. A run whose filters
// match no test case fails: ctest runs one case per process by name, and a
// name ctest cannot pass intact (one with a ';' is split into two) would
// otherwise run nothing and pass.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>

namespace {

// Test cases the last run selected; -1 when no run happened (a query such
// as --list-test-cases).
int g_selected = -1;

// Records how many test cases the filters selected at the end of a run.
struct run_listener : doctest::IReporter {
  explicit run_listener(const doctest::ContextOptions&) {}

  void test_run_end(const doctest::TestRunStats& st) override {
    g_selected = static_cast<int>(st.numTestCasesPassingFilters);
  }

  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

REGISTER_LISTENER("shiftrope_run", 1, run_listener);

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
