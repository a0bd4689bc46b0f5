/// The pages' one stylesheet and one script, served from memory with long-lived caching
/// disabled (they change with the binary). The script only adds the live log and a
/// refresh of the build's summary; every page works without it.
enum PageAssets {
    static let stylesheet = """
        :root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --code: #0d1117; --code-fg: #e6edf3; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
        header { display: flex; justify-content: space-between; align-items: center; padding: 10px 24px; border-bottom: 1px solid var(--line); }
        header .brand { font-weight: 700; font-size: 16px; color: var(--fg); text-decoration: none; }
        header .account { color: var(--muted); margin: 0; }
        main { padding: 16px 24px; max-width: 1400px; }
        h1 { font-size: 20px; margin: 4px 0 12px; }
        h2 { font-size: 16px; margin: 20px 0 8px; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; }
        td.mono, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
        dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
        dt { color: var(--muted); }
        dd { margin: 0; word-break: break-all; }
        a { color: #0969da; }
        .state { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; background: #6e7781; }
        .state-success { background: #1a7f37; }
        .state-failure, .state-error { background: #cf222e; }
        .state-running { background: #9a6700; }
        .state-queued { background: #0969da; }
        .state-canceled, .state-superseded, .state-skipped { background: #6e7781; }
        .filters { margin-bottom: 12px; color: var(--muted); }
        .filters input, .filters select { font: inherit; padding: 2px 6px; }
        pre#log { background: var(--code); color: var(--code-fg); padding: 12px; overflow-x: auto; font-size: 12.5px; line-height: 1.45; white-space: pre-wrap; word-break: break-all; }
        .note { color: var(--muted); }
        form.login { max-width: 420px; display: grid; gap: 8px; }
        form.login input { font: inherit; padding: 6px 8px; }
        .error { color: #cf222e; }
        """

    static let script = """
        (function () {
          'use strict';
          var log = document.getElementById('log');
          if (!log || log.dataset.live !== 'true' || !window.EventSource) return;
          // One refresh at a time; one asked for meanwhile runs after it, so the last word
          // (the build's end) is never lost to a refresh that fetched the page earlier.
          var refreshing = false, again = false;
          function refreshSummary() {
            if (refreshing) { again = true; return; }
            refreshing = true;
            fetch(location.href, { credentials: 'same-origin' }).then(function (r) { return r.text(); }).then(function (html) {
              var page = new DOMParser().parseFromString(html, 'text/html');
              ['state', 'summary', 'steps', 'provenance'].forEach(function (id) {
                var fresh = page.getElementById(id), old = document.getElementById(id);
                if (fresh && old) old.replaceWith(fresh);
              });
            }).catch(function () {}).then(function () {
              refreshing = false;
              if (again) { again = false; refreshSummary(); }
            });
          }
          var source = new EventSource(log.dataset.events);
          source.addEventListener('log', function (event) {
            var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
            var span = document.createElement('span');
            span.className = 'live';
            span.textContent = event.data + '\\n';
            log.appendChild(span);
            if (atBottom) window.scrollTo(0, document.body.scrollHeight);
            if (event.data.indexOf('==> ') !== -1) refreshSummary();
          });
          source.addEventListener('end', function () {
            source.close();
            log.dataset.live = 'ended';
            refreshSummary();
          });
        })();
        """
}
