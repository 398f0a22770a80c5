// Carnet's GraphiQL page, querying /graphql on the same origin. The server puts its settings in
// #carnet-graphiql-config: in development, the LAB_TEAM token as default headers, kept across
// reloads in localStorage (GraphiQL's shouldPersistHeaders); in production, nothing.
(function () {
  var config = {};
  try {
    config = JSON.parse(document.getElementById('carnet-graphiql-config').textContent) || {};
  } catch (e) {
    config = {};
  }
  var fetcher = GraphiQL.createFetcher({ url: '/graphql' });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: '{\n  academies {\n    code\n    name\n    regionAcademique\n  }\n}\n',
    defaultHeaders: config.defaultHeaders,
    shouldPersistHeaders: config.persistHeaders === true,
  }));
})();
