// Initialization script of the Firebase example, as ChatKitty documents it for the Runtime tab:
// initialize firebase-admin once with the project's service account key. The key comes from
// the app's environment (FIREBASE_SERVICE_ACCOUNT, the key file's JSON) rather than the code.
const admin = require('firebase-admin');

const serviceAccount = JSON.parse(process.env.FIREBASE_SERVICE_ACCOUNT);

admin.initializeApp({
  credential: admin.credential.cert(serviceAccount),
});
