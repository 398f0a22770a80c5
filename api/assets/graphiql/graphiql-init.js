// Carnet's GraphiQL page, querying /graphql on the same origin.
(function () {
  var fetcher = GraphiQL.createFetcher({ url: '/graphql' });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, { fetcher: fetcher, defaultQuery: '{\n  academies {\n    code\n    name\n    regionAcademique\n  }\n}\n' }));
})();
