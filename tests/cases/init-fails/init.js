const config = { apiKey: process.env.API_KEY };
if (!config.apiKey) throw new Error("API_KEY is not set");
