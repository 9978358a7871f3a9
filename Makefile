# The two commands a user types: `make run` and `make test`.
BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= $(shell nproc)

.PHONY: all run test deps clean

all:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The main job: every mechanism side by side on this machine, a table on
# the terminal and a plot (docs/performance.md).
run: all
	./$(BUILD)/ipcx bench --quick --plot $(BUILD)/bench.svg
	@echo "plot: $(BUILD)/bench.svg"

# Installs missing packages (as root), builds with ASan+UBSan and -Werror,
# and runs every test through CTest.
test: deps
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DIPCX_SANITIZE="address;undefined" >/dev/null
	cmake --build $(TEST_BUILD) -j $(JOBS)
	cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 180

deps:
	@sh scripts/deps.sh

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
