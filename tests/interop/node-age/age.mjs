// The node side of secretsctl's post-quantum interop tests, through npm's age-encryption:
//   node age.mjs keygen              -> the identity line, then its recipient line
//   node age.mjs recipient           -> the recipient of the identity on stdin
//   node age.mjs encrypt RECIPIENT   -> stdin encrypted to RECIPIENT, armoured
//   node age.mjs decrypt KEYFILE     -> armoured stdin decrypted with the identities in KEYFILE
import { readFileSync } from "node:fs";
import * as age from "age-encryption";

const [command, argument] = process.argv.slice(2);
const stdin = () => new Uint8Array(readFileSync(0));

if (command === "keygen") {
  const identity = await age.generateHybridIdentity();
  process.stdout.write(`${identity}\n${await age.identityToRecipient(identity)}\n`);
} else if (command === "recipient") {
  const identity = new TextDecoder().decode(stdin()).trim();
  process.stdout.write(`${await age.identityToRecipient(identity)}\n`);
} else if (command === "encrypt") {
  const encrypter = new age.Encrypter();
  encrypter.addRecipient(argument);
  process.stdout.write(age.armor.encode(await encrypter.encrypt(stdin())));
} else if (command === "decrypt") {
  const decrypter = new age.Decrypter();
  for (const line of readFileSync(argument, "utf8").split("\n")) {
    if (line.startsWith("AGE-SECRET-KEY-")) decrypter.addIdentity(line.trim());
  }
  const file = age.armor.decode(new TextDecoder().decode(stdin()));
  process.stdout.write(await decrypter.decrypt(file));
} else {
  process.stderr.write("usage: age.mjs keygen | recipient | encrypt RECIPIENT | decrypt KEYFILE\n");
  process.exit(2);
}
