import { PermissionFlagsBits, PermissionsBitField, SlashCommandBuilder, type RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';

/** The slash commands Threadline registers (by bulk overwrite at startup); `assistants`: the names ASSISTANTS_FILE gives, offered as choices. */
export function slashCommands(assistants: string[] = ['default']): RESTPostAPIChatInputApplicationCommandsJSONBody[] {
  return [
    new SlashCommandBuilder()
      .setName('ask')
      .setDescription('Ask Threadline a question')
      .addStringOption((o) => o.setName('prompt').setDescription('Your question').setRequired(true).setMaxLength(6000)),
    new SlashCommandBuilder().setName('reset').setDescription('Forget this conversation and start fresh'),
    new SlashCommandBuilder().setName('stop').setDescription('Stop the answer in progress'),
    new SlashCommandBuilder()
      .setName('notes')
      .setDescription('Meeting notes in this channel')
      .addStringOption((o) =>
        o
          .setName('action')
          .setDescription('What to do')
          .setRequired(true)
          .addChoices({ name: 'start', value: 'start' }, { name: 'stop', value: 'stop' }, { name: 'summary', value: 'summary' }, { name: 'status', value: 'status' }),
      )
      .addStringOption((o) => o.setName('title').setDescription('Meeting title (for start)').setMaxLength(200)),
    new SlashCommandBuilder().setName('help').setDescription('What Threadline can do'),
    new SlashCommandBuilder().setName('usage').setDescription('The tokens you and this channel have used today'),
    new SlashCommandBuilder()
      .setName('assistant')
      .setDescription('Which assistant this channel uses, or switch it (Manage Channels)')
      .addStringOption((o) =>
        o.setName('action').setDescription('What to do').setRequired(true).addChoices({ name: 'show', value: 'show' }, { name: 'list', value: 'list' }, { name: 'use', value: 'use' }),
      )
      .addStringOption((o) =>
        o
          .setName('name')
          .setDescription('The assistant (for use)')
          .addChoices(...assistants.slice(0, 25).map((a) => ({ name: a, value: a }))),
      ),
  ].map((b) => b.toJSON());
}

/** What the bot needs in a server: read and send (also in threads), open threads, attach files, read history. */
export const REQUIRED_PERMISSIONS = new PermissionsBitField([
  PermissionFlagsBits.ViewChannel,
  PermissionFlagsBits.SendMessages,
  PermissionFlagsBits.SendMessagesInThreads,
  PermissionFlagsBits.CreatePublicThreads,
  PermissionFlagsBits.ReadMessageHistory,
  PermissionFlagsBits.AttachFiles,
  PermissionFlagsBits.EmbedLinks,
]);

/** The invite URL with the bot and applications.commands scopes and the needed permissions. */
export function inviteUrl(applicationId: string): string {
  return `https://discord.com/oauth2/authorize?client_id=${applicationId}&scope=bot%20applications.commands&permissions=${REQUIRED_PERMISSIONS.bitfield}`;
}
