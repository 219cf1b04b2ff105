"""Pure clinical rules of the registry, with their sources (docs/domain.md).

Nothing here touches the database: these functions are shared by services,
the bulk seeder, the analytics code and the UI, and are unit-tested alone.
"""
