"""The GraphQL API (Strawberry) at /graphql: features, predictions and the champion."""
