"""The GraphiQL page: local assets (serving/static_assets.py) and a working example query."""

from __future__ import annotations

import json

from serving.static_assets import GRAPHIQL_URL

EXAMPLE_QUERY = """\
# converge: the champion, and an entity's features with the champion's prediction.
# Press the run button (or Ctrl-Enter); the Docs panel describes every type and field.
{
  champion { version algo createdAt metrics }
  entity(entityId: "customer-000001") {
    latestEventTimestamp
    features { source degraded dynamicFeatures }
    prediction { modelVersion source degraded output }
  }
}
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>converge GraphiQL</title>
  <link rel="stylesheet" href="{assets}/graphiql.min.css">
  <style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
  <script src="{assets}/react.production.min.js"></script>
  <script src="{assets}/react-dom.production.min.js"></script>
  <script src="{assets}/graphiql.min.js"></script>
</head>
<body>
  <div id="graphiql">Loading GraphiQL...</div>
  <script>
    const fetcher = GraphiQL.createFetcher({{ url: window.location.pathname }});
    ReactDOM.render(
      React.createElement(GraphiQL, {{ fetcher: fetcher, defaultQuery: {query} }}),
      document.getElementById("graphiql"),
    );
  </script>
</body>
</html>
"""


def graphiql_page(root_path: str = "") -> str:
    """The HTML of the GraphiQL page for an app mounted at `root_path`."""
    # json.dumps makes the query a JS string literal; "</" is escaped so it cannot end the script.
    query = json.dumps(EXAMPLE_QUERY).replace("</", "<\\/")
    return _PAGE.format(assets=root_path + GRAPHIQL_URL, query=query)
