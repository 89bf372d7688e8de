"""Reports, comparisons and publishing, from result files only (never from devices).

Public API (pandas and matplotlib are imported inside the functions that need them):
    load.load_results(paths) -> ResultSet            run directories -> one record per cell
    load.result_set(stores) -> ResultSet             the same from open RunStores
    ResultSet.frame() -> pandas.DataFrame            tidy: one row per cell, columns RECORD_COLUMNS
    build.build_page(results, ReportOptions) -> Page tables, plots and notes, format-neutral
    build.render(results, fmt, options) -> str       one format as text (md, csv, json, html)
    build.write_report(results, out_dir, formats, options) -> [Path]
    compare.compare_runs(store_a, store_b, thresholds) -> Comparison
    compare.parse_fail_on("median:5%,energy:10%") -> {"median": 0.05, "energy": 0.1}
    publish.publish_site(run_paths, out_dir, include_flagged=False) -> SiteSummary

Modules: load (records), tables (pandas -> Table), plots (matplotlib -> PNG), markdown and html
(renderers), exporters (CSV, JSON), escape (every outside string goes through it), numbers
(column units), document (the neutral page structure).
"""
