# pgwarden — PGXS build (`make && make install`, honours PG_CONFIG=) plus the
# project targets: deps, venv, test, demo, bench.

EXTENSION = pgwarden
MODULE_big = pgwarden
OBJS = ext/pgwarden.o ext/safespi.o ext/password.o ext/logmask.o ext/utility.o ext/branches.o ext/protect.o ext/endpoints.o \
       ext/gate.o ext/policy.o ext/allowlist.o ext/audit.o ext/gatestats.o ext/readonly.o \
       ext/entropy.o ext/entropy_data.o
# Released install/upgrade scripts are never edited; the script of the
# version in the making is concatenated from its parts (sql/<version>/*.sql).
DATA = sql/pgwarden--0.1.0.sql
DATA_built = sql/pgwarden--0.1.0--0.2.0.sql
EXTRA_CLEAN = sql/pgwarden--0.1.0--0.2.0.sql ext/pg_build.stamp
PG_CPPFLAGS = -I$(srcdir)/ext
# pg_regress suite (test/sql, test/expected): `make installcheck` against the
# server PGHOST/PGPORT name, which must preload pgwarden (README).
REGRESS = init password settings allowlist branches oldextversions cleanup
REGRESS_OPTS = --inputdir=$(srcdir)/test
SHLIB_LINK = -lm

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/pgwarden--0.1.0--0.2.0.sql: $(sort $(wildcard $(srcdir)/sql/0.2.0/*.sql))
	cat $^ > $@

# Objects are rebuilt when a header changes (every object on every header: a
# small library, so no dependency files) and when PG_CONFIG names another
# server (ext/pg_build.stamp keeps the one they were built for; it is only
# rewritten when that changes, so an unchanged build stays up to date).
PG_BUILD_ID := $(shell $(PG_CONFIG) --version) $(shell $(PG_CONFIG) --includedir-server)
$(OBJS) $(OBJS:.o=.bc): $(wildcard $(srcdir)/ext/*.h) ext/pg_build.stamp
ext/pg_build.stamp: FORCE
	@echo '$(PG_BUILD_ID)' | cmp -s - $@ || echo '$(PG_BUILD_ID)' > $@
.PHONY: FORCE

# A VPATH build (build directory elsewhere, as pg_buildext makes one per
# major) needs the directories of the objects and of the built script.
ifneq ($(VPATH),)
$(shell mkdir -p ext sql)
endif

# ---------------------------------------------------------------------------
# Project targets.  Each installs what it needs on a fresh Debian 12 machine.
# ---------------------------------------------------------------------------
VENV    ?= $(CURDIR)/.venv
PY      := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: deps venv pyinstall test test-majors build-majors test-deb demo bench lint update-entropy-data check-entropy-data \
	indent check-indent update-typedefs headerscheck

# PG_MAJOR: the PostgreSQL major `make test` runs the suite on.  Empty or 15:
# here, on $(PG_CONFIG).  16, 17 or 18: scripts/majors.sh builds and runs the
# whole suite on that major (in its Debian root, or PyPI/npm for 16), which
# calls `make test` again in a copy of the tree with PGWARDEN_LEG set.
PG_MAJOR ?=
MAJORS_OTHER = 16 17 18
ifneq ($(filter-out 15,$(PG_MAJOR)),)
ifeq ($(PGWARDEN_LEG),)
TEST_ELSEWHERE = yes
endif
endif

deps:
	PG_MAJOR=$(PG_MAJOR) bash scripts/deps.sh

$(PY):
	bash scripts/venv.sh $(VENV)

venv: deps $(PY)

# Both build paths: PGXS into the server, setuptools into the venv.
pyinstall: venv
	$(PY) -m pip install --quiet --no-build-isolation '.[test]'

ifeq ($(TEST_ELSEWHERE),yes)
test:
	bash scripts/majors.sh $(PG_MAJOR)
else
test: deps
	$(MAKE) all
	$(MAKE) install
	$(MAKE) pyinstall
	cd tests && $(PY) -m pytest $(PYTEST_ARGS)
endif

# The whole suite on every supported major but 15 (`make test` is 15's);
# build-majors only compiles the extension for each (quick, after a rebase).
test-majors:
	bash scripts/majors.sh $(MAJORS_OTHER)

build-majors:
	bash scripts/majors.sh --build $(MAJORS_OTHER)

# The Debian source package (debian/) built, installed and tested in a
# Debian 12 root, as a DBA on Debian would (scripts/debpkg.sh).
test-deb:
	bash scripts/debpkg.sh

demo: deps
	$(MAKE) all
	$(MAKE) install
	$(MAKE) pyinstall
	$(PY) scripts/demo.py

# The estimator's generated tables (ext/entropy_data.{c,h}, committed):
# regenerate them from the pinned sources of tools/requirements.txt, or check
# that the committed ones are what those sources give (as PostgreSQL does for
# src/common/unicode).  The sources are installed in a venv of their own.
TOOLS_VENV ?= $(CURDIR)/.venv-tools
$(TOOLS_VENV)/bin/python: tools/requirements.txt
	python3 -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet -r tools/requirements.txt
	touch $@

update-entropy-data: deps $(TOOLS_VENV)/bin/python
	bash scripts/deps.sh entropy-data
	$(TOOLS_VENV)/bin/python tools/gen_entropy_data.py

check-entropy-data: deps $(TOOLS_VENV)/bin/python
	bash scripts/deps.sh entropy-data
	$(TOOLS_VENV)/bin/python tools/gen_entropy_data.py --check

# C formatting as pgindent does it: PostgreSQL's settings for pg_bsd_indent
# (Debian's pg-bsd-indent, 2.1.1 as PostgreSQL 15 uses), which must know
# every type name: ext/typedefs.list, made from a build's debugging
# information plus the typedefs of ext/ (make update-typedefs, after a header
# gains one).  indent rewrites INDENT_FILES in place; check-indent lists
# those it would change and fails if there are any.  The generated tables
# are left as the generator writes them.
PG_BSD_INDENT ?= pg_bsd_indent
INDENT_OPTS = -bad -bap -bbb -bc -bl -cli1 -cp33 -cdb -nce -d0 -di12 -nfc1 -i4 -l79 \
	-lp -lpl -nip -npro -sac -tpg -ts4
INDENT_FILES ?= $(filter-out ext/entropy_data.%,$(sort $(wildcard ext/*.c ext/*.h)))

indent check-indent: ext/typedefs.list
	@bash scripts/deps.sh indent
	@changed=; for f in $(INDENT_FILES); do \
		$(PG_BSD_INDENT) $(INDENT_OPTS) -Uext/typedefs.list $$f $$f.indented || exit 3; \
		if cmp -s $$f $$f.indented; then rm -f $$f.indented; \
		elif [ $@ = indent ]; then mv $$f.indented $$f; echo "indented $$f"; \
		else rm -f $$f.indented; changed="$$changed $$f"; fi; \
	done; \
	if [ -n "$$changed" ]; then echo "not indented:$$changed (make indent)"; exit 1; fi

update-typedefs: all
	@bash scripts/deps.sh indent
	python3 scripts/typedefs.py > ext/typedefs.list

# Benchmarks, the long fuzz run's short form and the slow tests (BENCHMARKS.md).
bench: deps check-entropy-data
	$(MAKE) all
	$(MAKE) install
	$(MAKE) pyinstall
	bash scripts/deps.sh bench
	$(PY) -m pip install --quiet -r bench/corpus/requirements.txt
	$(PY) bench/password_estimator.py
	bash bench/fuzz/run.sh
	$(PY) bench/connection_gate.py
	$(PY) bench/branching.py
	cd tests && $(PY) -m pytest -m slow $(PYTEST_ARGS)

# ruff and mypy --strict over the Python, as the style guide asks, every
# ext/ header on its own (headerscheck), and the dependencies between the C
# files of ext/ (no include, concern or call cycle:
# scripts/check_includes.py).  make test runs the same checks
# (tests/test_lint.py).
lint: venv
	$(PY) -m pip install --quiet 'ruff~=0.17.6' 'mypy~=2.4.1' types-tqdm
	$(PY) -m ruff check python tests scripts bench setup.py
	$(PY) -m mypy --strict python/pgwarden
	$(MAKE) all headerscheck
	$(PY) scripts/check_includes.py --symbols

# Every header of ext/ compiles on its own after postgres.h, as PostgreSQL's
# headerscheck asks of its own.
headerscheck:
	@for h in $(sort $(wildcard $(srcdir)/ext/*.h)); do \
		printf '#include "postgres.h"\n#include "%s"\n' $$(basename $$h) | \
		$(CC) $(CPPFLAGS) -Wall -fsyntax-only -x c - || { echo "headerscheck: $$h"; exit 1; }; \
	done; echo "headerscheck: every ext/ header stands alone"
