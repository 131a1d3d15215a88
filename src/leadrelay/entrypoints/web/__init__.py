"""The web app for reps, managers and marketers: server-rendered pages beside the API, same roles, same services."""
