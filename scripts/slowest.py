#!/usr/bin/env python3
"""The N slowest test cases of a JUnit XML file (nextest's), slowest first.

    scripts/slowest.py target/nextest/default/junit.xml [N]
"""
import sys
import xml.etree.ElementTree as ET


def main() -> None:
    path = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    cases = []
    for case in ET.parse(path).getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        cases.append((float(case.get("time", "0")), case.get("classname", ""), case.get("name", ""), failed))
    cases.sort(reverse=True)
    for t, cls, name, failed in cases[:n]:
        print(f"{t:8.1f}s  {cls} {name}{'  FAILED' if failed else ''}")
    print(f"{sum(c[0] for c in cases):8.1f}s  total over {len(cases)} tests")


if __name__ == "__main__":
    main()
