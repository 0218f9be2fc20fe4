"""Reads the portal through the CKAN Action API with the ckanapi client library, as CKAN tools do.

Usage: python check_client.py BASE_URL   (exits non-zero with a message on the first failure)
"""

import json
import os
import subprocess
import sys
import tempfile

import ckanapi


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def main(base_url):
    for get_only in (False, True):
        ckan = ckanapi.RemoteCKAN(base_url, user_agent="radportal-ckan-check", get_only=get_only)
        mode = "GET" if get_only else "POST"

        status = ckan.action.status_show()
        check(status["ckan_version"].startswith("2."), f"{mode} status_show: {status}")

        names = ckan.action.package_list()
        check(len(names) == 320 and "lidc-idri" in names, f"{mode} package_list: {len(names)} names")

        package = ckan.action.package_show(id="lidc-idri")
        check(package["title"] == "LIDC-IDRI", f"{mode} package_show title: {package['title']}")
        check(package["organization"]["name"] == "tcia", f"{mode} package_show organization")
        check(any(r["url"].startswith("https://doi.org/") for r in package["resources"]), f"{mode} resources")
        check({"name": "CT"} .items() <= package["tags"][0].items(), f"{mode} tags: {package['tags'][:2]}")

        found = ckan.action.package_search(
            q="lung nodule", fq="organization:tcia", rows=5, **{"facet.field": ["organization", "tags"]}
        )
        check(found["count"] >= 1, f"{mode} package_search count: {found['count']}")
        check(found["results"][0]["name"] == "lidc-idri", f"{mode} first result: {found['results'][0]['name']}")
        check(list(found["search_facets"]["organization"]["items"][0].keys()) >= ["count"], f"{mode} facets")
        check(found["facets"]["organization"] == {"tcia": found["count"]}, f"{mode} facet counts: {found['facets']}")

        # Paging through a filtered search with start/rows sees every dataset once.
        total = ckan.action.package_search(fq='tags:"MR"', rows=0)["count"]
        seen = []
        start = 0
        while start < total:
            page = ckan.action.package_search(fq='tags:"MR"', rows=25, start=start, sort="title_string asc")
            seen.extend(p["name"] for p in page["results"])
            start += 25
        check(len(seen) == total == len(set(seen)), f"{mode} paging: {len(seen)} of {total}")

        orgs = ckan.action.organization_list(all_fields=True, sort="package_count desc")
        check(orgs[0]["name"] == "tcia" and orgs[0]["package_count"] > 90, f"{mode} organization_list: {orgs[0]}")
        org = ckan.action.organization_show(id="physionet", include_datasets=True)
        check(org["package_count"] == len(org["packages"]) > 0, f"{mode} organization_show")

        try:
            ckan.action.package_show(id="no-such-dataset")
            check(False, f"{mode} package_show of a missing dataset must fail")
        except ckanapi.NotFound:
            pass
        try:
            ckan.action.package_show()
            check(False, f"{mode} package_show without id must fail")
        except ckanapi.ValidationError as error:
            check("id" in error.error_dict, f"{mode} validation names id: {error.error_dict}")
        try:
            ckan.action.package_search(fq="colour:blue")
            check(False, f"{mode} an unknown fq field must fail")
        except ckanapi.SearchQueryError:
            pass

    # The ckanapi command line, as harvesting scripts use it: dump every dataset.
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "datasets.jsonl")
        bin_dir = os.path.dirname(sys.executable)
        env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
        subprocess.run(
            [os.path.join(bin_dir, "ckanapi"), "dump", "datasets", "--all", "-q", "-p", "2", "-O", out, "-r", base_url],
            check=True,
            env=env,
        )
        with open(out) as dump:
            dumped = [json.loads(line) for line in dump]
        check(len(dumped) == 320, f"ckanapi dump: {len(dumped)} datasets")

    print("ckanapi client check passed")


if __name__ == "__main__":
    main(sys.argv[1])
